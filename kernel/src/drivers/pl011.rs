//! The Arm PL011 UART (Arm DDI 0183, "PrimeCell UART (PL011) Technical Reference Manual"):
//! the serial console. QEMU's model needs no baud-rate set-up.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    /// Data register: received character and its error flags.
    DR [
        DATA OFFSET(0) NUMBITS(8) []
    ],
    /// Flag register.
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Line control register.
    LCR_H [
        /// Word length: 8 bits.
        WLEN OFFSET(5) NUMBITS(2) [EightBit = 0b11],
        /// Enable FIFOs.
        FEN OFFSET(4) NUMBITS(1) []
    ],
    /// Control register.
    CR [
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) []
    ],
    /// Interrupt mask set/clear, raw and masked status, clear: one bit per source.
    INT [
        /// Receive timeout.
        RT OFFSET(6) NUMBITS(1) [],
        /// Receive.
        RX OFFSET(4) NUMBITS(1) []
    ]
}

register_structs! {
    /// The PL011 register block.
    Registers {
        (0x000 => dr: ReadWrite<u32, DR::Register>),
        (0x004 => _reserved0),
        (0x018 => fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x02c => lcr_h: ReadWrite<u32, LCR_H::Register>),
        (0x030 => cr: ReadWrite<u32, CR::Register>),
        (0x034 => _reserved2),
        (0x038 => imsc: ReadWrite<u32, INT::Register>),
        (0x03c => _ris),
        (0x040 => _mis),
        (0x044 => icr: WriteOnly<u32, INT::Register>),
        (0x048 => @END),
    }
}

/// A PL011 at a mapped address.
pub struct Pl011 {
    regs: &'static Registers,
}

// SAFETY: the registers are plain MMIO with no thread affinity; the console keeps the one
// `Pl011` behind a lock, so accesses from different cores never overlap.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// # Safety
    /// `base` must be the virtual address of a PL011's registers, mapped as device memory for
    /// the rest of the kernel's life, and no other driver may use it.
    pub unsafe fn new(base: usize) -> Pl011 {
        // SAFETY: guaranteed by the caller.
        Pl011 { regs: unsafe { &*(base as *const Registers) } }
    }

    /// 8N1 with FIFOs, transmit and receive enabled, receive interrupts on.
    pub fn init(&self) {
        self.regs.cr.set(0);
        self.regs.lcr_h.write(LCR_H::WLEN::EightBit + LCR_H::FEN::SET);
        self.regs.icr.set(0x7ff);
        self.regs.imsc.write(INT::RX::SET + INT::RT::SET);
        self.regs.cr.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Sends one byte, waiting for room in the FIFO.
    pub fn put(&self, byte: u8) {
        while self.regs.fr.is_set(FR::TXFF) {}
        self.regs.dr.write(DR::DATA.val(u32::from(byte)));
    }

    /// A received byte, if any.
    pub fn get(&self) -> Option<u8> {
        if self.regs.fr.is_set(FR::RXFE) {
            None
        } else {
            Some(self.regs.dr.read(DR::DATA) as u8)
        }
    }

    /// Clears the receive interrupts (after draining the FIFO with [`Pl011::get`]).
    pub fn clear_rx_interrupt(&self) {
        self.regs.icr.write(INT::RX::SET + INT::RT::SET);
    }
}
