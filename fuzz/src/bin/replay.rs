//! Runs fuzz inputs through a target's check without libFuzzer, for debugging:
//! `cargo run --bin replay -- <target> FILE...` (with XUNCHA_FUZZ_TRACE=1, every request
//! of the server targets and its answer is printed).

fn main() {
    // The program's own name first, then the target, then the files.
    let mut args = std::env::args();
    args.next();
    let target = args.next().expect("usage: replay <target> FILE...");
    let (_, check) = xuncha_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("unknown target {target}"));
    for file in args {
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        check(&data);
        println!("{file}: ok");
    }
}
