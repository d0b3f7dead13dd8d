#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xuncha_fuzz::allow_guarded_panics();
    xuncha_fuzz::attachments::check(data)
});
