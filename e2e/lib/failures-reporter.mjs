// A node:test reporter that prints, after everything else, one short block per failed
// test: its name, the error's first lines and the step of the test file it failed at. CI
// shows only the end of a long log; this puts every failure there.
export default async function* failures(source) {
  const failed = [];
  for await (const event of source) {
    if (event.type !== 'test:fail' || event.data.details?.type === 'suite') continue;
    const error = event.data.details?.error;
    const cause = error?.cause ?? error;
    const message = String(cause?.message ?? cause ?? 'unknown error').split('\n').slice(0, 3).join(' ⏎ ');
    const step = String(cause?.stack ?? '')
      .split('\n')
      .find((line) => line.includes('/e2e/tests/'));
    failed.push(`✖ ${event.data.name}\n    ${message}${step ? `\n    ${step.trim()}` : ''}`);
  }
  if (failed.length) yield `\nend-to-end failures (${failed.length}):\n${failed.join('\n')}\n`;
}
