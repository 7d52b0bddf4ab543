//! Floating-point and SIMD registers of user threads.
//!
//! The kernel is built for `aarch64-unknown-none-softfloat` and never touches these registers,
//! so a thread's values stay in the hardware across kernel entries; they are saved and restored
//! only when a core switches to a different thread than the one whose values it holds.

/// q0-q31, FPCR and FPSR.
#[repr(C, align(16))]
#[derive(Clone, Copy, Default)]
pub struct FpState {
    q: [u128; 32],
    fpcr: u64,
    fpsr: u64,
}

/// Saves this core's FP/SIMD registers into `state`.
pub fn save(state: &mut FpState) {
    // SAFETY: stores 528 bytes into `state`, which is exclusively borrowed and 16-byte aligned;
    // reads only FP/SIMD registers, which the kernel itself never uses.
    unsafe {
        core::arch::asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "stp q0, q1, [{p}, #0]", "stp q2, q3, [{p}, #32]", "stp q4, q5, [{p}, #64]",
            "stp q6, q7, [{p}, #96]", "stp q8, q9, [{p}, #128]", "stp q10, q11, [{p}, #160]",
            "stp q12, q13, [{p}, #192]", "stp q14, q15, [{p}, #224]", "stp q16, q17, [{p}, #256]",
            "stp q18, q19, [{p}, #288]", "stp q20, q21, [{p}, #320]", "stp q22, q23, [{p}, #352]",
            "stp q24, q25, [{p}, #384]", "stp q26, q27, [{p}, #416]", "stp q28, q29, [{p}, #448]",
            "stp q30, q31, [{p}, #480]",
            "mrs {t}, fpcr", "str {t}, [{p}, #512]",
            "mrs {t}, fpsr", "str {t}, [{p}, #520]",
            p = in(reg) state as *mut FpState,
            t = out(reg) _,
        );
    }
}

/// Loads this core's FP/SIMD registers from `state`.
pub fn restore(state: &FpState) {
    // SAFETY: reads 528 bytes from `state`, borrowed and 16-byte aligned; writes only FP/SIMD
    // registers, which the kernel itself never uses.
    unsafe {
        core::arch::asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "ldp q0, q1, [{p}, #0]", "ldp q2, q3, [{p}, #32]", "ldp q4, q5, [{p}, #64]",
            "ldp q6, q7, [{p}, #96]", "ldp q8, q9, [{p}, #128]", "ldp q10, q11, [{p}, #160]",
            "ldp q12, q13, [{p}, #192]", "ldp q14, q15, [{p}, #224]", "ldp q16, q17, [{p}, #256]",
            "ldp q18, q19, [{p}, #288]", "ldp q20, q21, [{p}, #320]", "ldp q22, q23, [{p}, #352]",
            "ldp q24, q25, [{p}, #384]", "ldp q26, q27, [{p}, #416]", "ldp q28, q29, [{p}, #448]",
            "ldp q30, q31, [{p}, #480]",
            "ldr {t}, [{p}, #512]", "msr fpcr, {t}",
            "ldr {t}, [{p}, #520]", "msr fpsr, {t}",
            p = in(reg) state as *const FpState,
            t = out(reg) _,
        );
    }
}
