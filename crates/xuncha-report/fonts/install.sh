#!/usr/bin/env bash
# Puts the report fonts beside this script: Noto Serif CJK (regular and bold, SIL Open Font
# License 1.1) from Debian's fonts-noto-cjk package, which `make setup` installs, checked
# against the SHA-256 pinned here, so every machine typesets with the very same files.
# Idempotent; run by `make setup`.
set -euo pipefail
cd "$(dirname "$0")"
SOURCE="${XUNCHA_FONT_SOURCE:-/usr/share/fonts/opentype/noto}"
for name in NotoSerifCJK-Regular.ttc NotoSerifCJK-Bold.ttc; do
	want="$(cat "$name.sha256")"
	if [ -f "$name" ] && [ "$(sha256sum "$name" | cut -d' ' -f1)" = "$want" ]; then
		continue
	fi
	if [ ! -f "$SOURCE/$name" ]; then
		echo "fonts: $SOURCE/$name is missing: install Debian's fonts-noto-cjk (make setup does), or set XUNCHA_FONT_SOURCE" >&2
		exit 1
	fi
	got="$(sha256sum "$SOURCE/$name" | cut -d' ' -f1)"
	if [ "$got" != "$want" ]; then
		echo "fonts: $SOURCE/$name has SHA-256 $got, not the pinned $want (another release of the font would move lines and pages)" >&2
		exit 1
	fi
	cp "$SOURCE/$name" "$name.partial" && mv "$name.partial" "$name"
done
if [ -f /usr/share/doc/fonts-noto-cjk/copyright ] && [ ! -f LICENSE-fonts-noto-cjk ]; then
	cp /usr/share/doc/fonts-noto-cjk/copyright LICENSE-fonts-noto-cjk
fi
