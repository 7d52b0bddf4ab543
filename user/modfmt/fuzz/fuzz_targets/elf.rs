//! A module file from anywhere: exactly what the module server does with it
//! (`modfmt::untrusted::check`: validation, layout, relocation, and the plan's promises).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = modfmt::untrusted::check(data);
});
