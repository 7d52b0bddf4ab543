//! Device drivers for the board's peripherals (not part of the CPU architecture).

pub mod pl011;
