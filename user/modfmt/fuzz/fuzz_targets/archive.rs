//! A boot archive from anywhere (`modfmt::untrusted::check_archive`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    modfmt::untrusted::check_archive(data);
});
