//! The machine, as the device tree describes it.
//!
//! QEMU's `virt` board hands the kernel a flattened device tree (at the base of RAM when the
//! kernel is an ELF image; see the README). [`BoardConfig::from_fdt`] reads from it everything the
//! kernel needs and hard-codes none of it: RAM, cores, the PL011 UART, the GICv3, the PSCI conduit,
//! the generic timer's interrupt, and the command line. Nothing here allocates.

use crate::cmdline::CmdLine;

/// Most cores the kernel supports (QEMU `virt` with GICv3 allows more; we size tables for this).
pub const MAX_CPUS: usize = 64;
/// Most separate RAM ranges remembered.
pub const MAX_RAM_REGIONS: usize = 4;

/// A physical address range `[base, base + size)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Region {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.base + self.size
    }
}

/// How PSCI calls reach the firmware (the `/psci` node's `method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    /// `hvc #0`: QEMU's built-in PSCI when the guest starts at EL1.
    Hvc,
    /// `smc #0`: QEMU's built-in PSCI when the guest starts at EL2 (`virtualization=on`).
    Smc,
}

/// Everything the kernel takes from the device tree.
#[derive(Clone, Copy, Debug)]
pub struct BoardConfig<'a> {
    ram: [Region; MAX_RAM_REGIONS],
    ram_count: usize,
    cpu_mpidrs: [u64; MAX_CPUS],
    cpu_count: usize,
    /// Cores the device tree lists, including any beyond [`MAX_CPUS`] (which are not used).
    cpus_in_tree: usize,
    /// PL011 registers.
    pub uart: Region,
    /// The PL011's interrupt id (GIC INTID).
    pub uart_intid: u32,
    /// GICv3 distributor registers.
    pub gicd: Region,
    /// GICv3 redistributor region (one 128 KiB frame pair per core).
    pub gicr: Region,
    /// PSCI conduit.
    pub psci: PsciConduit,
    /// INTID of the EL1 virtual timer (a PPI).
    pub virtual_timer_intid: u32,
    /// The kernel command line.
    pub cmdline: CmdLine<'a>,
    /// The first 8 bytes of `/chosen/rng-seed` (0 if there is none): seeds user-level
    /// randomisation such as module load addresses.
    pub rng_seed: u64,
    /// Size of the device tree blob itself, so it can be kept out of the frame allocator.
    pub fdt_size: usize,
}

/// Why a device tree could not be used. Each names what is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoardError {
    /// Not a valid flattened device tree (bad magic, truncated, ...).
    BadBlob,
    /// No `device_type = "memory"` node with a `reg`.
    NoMemory,
    /// No `/cpus/cpu@N` nodes.
    NoCpus,
    /// No `arm,pl011` node.
    NoUart,
    /// No `arm,gic-v3` node with distributor and redistributor regions.
    NoGicV3,
    /// No `/psci` node, or its method is neither `hvc` nor `smc`.
    NoPsci,
    /// No `arm,armv8-timer` node with four interrupts.
    NoTimer,
    /// An `interrupts` property that is not (type, number, flags) triples.
    BadInterrupts,
}

impl BoardError {
    /// What went wrong, for the boot log.
    pub fn describe(self) -> &'static str {
        match self {
            BoardError::BadBlob => "not a valid flattened device tree",
            BoardError::NoMemory => "no memory node",
            BoardError::NoCpus => "no cpu nodes",
            BoardError::NoUart => "no arm,pl011 node",
            BoardError::NoGicV3 => "no arm,gic-v3 node (boot QEMU with -M virt,gic-version=3)",
            BoardError::NoPsci => "no usable /psci node",
            BoardError::NoTimer => "no arm,armv8-timer node",
            BoardError::BadInterrupts => "malformed interrupts property",
        }
    }
}

/// Reads the big-endian magic and total size from a blob header, if it is one.
pub fn fdt_header(bytes: &[u8]) -> Option<(u32, usize)> {
    let magic = u32::from_be_bytes(bytes.get(0..4)?.try_into().ok()?);
    let size = u32::from_be_bytes(bytes.get(4..8)?.try_into().ok()?);
    (magic == FDT_MAGIC).then_some((magic, size as usize))
}

/// The flattened-device-tree magic number.
pub const FDT_MAGIC: u32 = 0xd00d_feed;

/// The n-th (type, number, flags) triple of an `interrupts` property, as a GIC INTID.
fn gic_intid(prop: &[u8], n: usize) -> Result<u32, BoardError> {
    let cell = |i: usize| -> Result<u32, BoardError> {
        let b = prop.get(i * 4..i * 4 + 4).ok_or(BoardError::BadInterrupts)?;
        Ok(u32::from_be_bytes(b.try_into().map_err(|_| BoardError::BadInterrupts)?))
    };
    let (kind, number) = (cell(3 * n)?, cell(3 * n + 1)?);
    match kind {
        0 => Ok(32 + number), // SPI
        1 => Ok(16 + number), // PPI
        _ => Err(BoardError::BadInterrupts),
    }
}

fn first_reg(node: fdt::node::FdtNode<'_, '_>) -> Option<Region> {
    let r = node.reg()?.next()?;
    Some(Region { base: r.starting_address as u64, size: r.size? as u64 })
}

impl<'a> BoardConfig<'a> {
    /// Parses the blob. The command line borrows from it.
    pub fn from_fdt(bytes: &'a [u8]) -> Result<BoardConfig<'a>, BoardError> {
        let fdt = fdt::Fdt::new(bytes).map_err(|_| BoardError::BadBlob)?;

        let mut ram = [Region::default(); MAX_RAM_REGIONS];
        let mut ram_count = 0;
        let memory_nodes =
            fdt.all_nodes().filter(|n| n.property("device_type").and_then(|p| p.as_str()) == Some("memory"));
        for node in memory_nodes {
            for r in node.reg().into_iter().flatten() {
                if let (Some(size), true) = (r.size, ram_count < MAX_RAM_REGIONS) {
                    ram[ram_count] = Region { base: r.starting_address as u64, size: size as u64 };
                    ram_count += 1;
                }
            }
        }
        if ram_count == 0 {
            return Err(BoardError::NoMemory);
        }

        let mut cpu_mpidrs = [0u64; MAX_CPUS];
        let mut cpu_count = 0;
        let mut cpus_in_tree = 0;
        let cpus = fdt.find_node("/cpus").ok_or(BoardError::NoCpus)?;
        for cpu in cpus.children().filter(|c| c.name.starts_with("cpu@")) {
            let reg = cpu.property("reg").and_then(|p| p.as_usize()).ok_or(BoardError::NoCpus)?;
            // Cores beyond MAX_CPUS are counted and left off (never started): the kernel runs
            // on the first MAX_CPUS and says so at boot, instead of failing before its console.
            cpus_in_tree += 1;
            if cpu_count == MAX_CPUS {
                continue;
            }
            cpu_mpidrs[cpu_count] = reg as u64;
            cpu_count += 1;
        }
        if cpu_count == 0 {
            return Err(BoardError::NoCpus);
        }

        let uart_node = fdt.find_compatible(&["arm,pl011"]).ok_or(BoardError::NoUart)?;
        let uart = first_reg(uart_node).ok_or(BoardError::NoUart)?;
        let uart_irq = uart_node.property("interrupts").ok_or(BoardError::NoUart)?;
        let uart_intid = gic_intid(uart_irq.value, 0)?;

        let gic = fdt.find_compatible(&["arm,gic-v3"]).ok_or(BoardError::NoGicV3)?;
        let mut gic_regs = gic
            .reg()
            .ok_or(BoardError::NoGicV3)?
            .map(|r| Region { base: r.starting_address as u64, size: r.size.unwrap_or(0) as u64 });
        let gicd = gic_regs.next().ok_or(BoardError::NoGicV3)?;
        let gicr = gic_regs.next().ok_or(BoardError::NoGicV3)?;

        let psci_node = fdt.find_compatible(&["arm,psci-1.0", "arm,psci-0.2"]).ok_or(BoardError::NoPsci)?;
        let psci = match psci_node.property("method").and_then(|p| p.as_str()) {
            Some("hvc") => PsciConduit::Hvc,
            Some("smc") => PsciConduit::Smc,
            _ => return Err(BoardError::NoPsci),
        };

        let timer = fdt.find_compatible(&["arm,armv8-timer"]).ok_or(BoardError::NoTimer)?;
        let timer_irqs = timer.property("interrupts").ok_or(BoardError::NoTimer)?;
        // Order fixed by the binding: secure phys, non-secure phys, virtual, hypervisor.
        let virtual_timer_intid = gic_intid(timer_irqs.value, 2).map_err(|_| BoardError::NoTimer)?;

        let cmdline = CmdLine::new(fdt.chosen().bootargs().unwrap_or(""));
        let rng_seed = fdt
            .find_node("/chosen")
            .and_then(|c| c.property("rng-seed"))
            .and_then(|p| p.value.get(..8))
            .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));

        Ok(BoardConfig {
            ram,
            ram_count,
            cpu_mpidrs,
            cpu_count,
            cpus_in_tree,
            uart,
            uart_intid,
            gicd,
            gicr,
            psci,
            virtual_timer_intid,
            cmdline,
            rng_seed,
            fdt_size: fdt.total_size(),
        })
    }

    /// RAM ranges.
    pub fn ram(&self) -> &[Region] {
        &self.ram[..self.ram_count]
    }

    /// Total RAM in bytes.
    pub fn ram_bytes(&self) -> u64 {
        self.ram().iter().map(|r| r.size).sum()
    }

    /// The MPIDR affinity value of each core, in device-tree order. A core's index in this list
    /// is its logical core number; core 0 is the one that booted.
    pub fn cpu_mpidrs(&self) -> &[u64] {
        &self.cpu_mpidrs[..self.cpu_count]
    }

    /// How many cores the device tree lists: more than [`BoardConfig::cpu_mpidrs`] holds if
    /// the machine has more than [`MAX_CPUS`].
    pub fn cpus_in_tree(&self) -> usize {
        self.cpus_in_tree
    }

    /// The logical number of the core with this MPIDR affinity value.
    pub fn core_of_mpidr(&self, mpidr: u64) -> Option<usize> {
        self.cpu_mpidrs().iter().position(|m| *m == mpidr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMP4: &[u8] = include_bytes!("../testdata/virt-gicv3-smp4-512m.dtb");
    const EL2_SMP8: &[u8] = include_bytes!("../testdata/virt-gicv3-el2-smp8-1g.dtb");

    #[test]
    fn qemu_virt_el1_four_cores() {
        let b = BoardConfig::from_fdt(SMP4).unwrap();
        assert_eq!(b.ram(), &[Region { base: 0x4000_0000, size: 512 << 20 }]);
        assert_eq!(b.cpu_mpidrs(), &[0, 1, 2, 3]);
        assert_eq!(b.uart, Region { base: 0x0900_0000, size: 0x1000 });
        assert_eq!(b.uart_intid, 33);
        assert_eq!(b.gicd.base, 0x0800_0000);
        assert_eq!(b.gicr.base, 0x080a_0000);
        assert_eq!(b.psci, PsciConduit::Hvc);
        assert_eq!(b.virtual_timer_intid, 27);
        assert_eq!(b.cmdline.as_str(), "");
        assert_eq!(b.fdt_size, SMP4.len());
    }

    #[test]
    fn qemu_virt_el2_eight_cores_with_bootargs() {
        let b = BoardConfig::from_fdt(EL2_SMP8).unwrap();
        assert_eq!(b.ram_bytes(), 1 << 30);
        assert_eq!(b.cpu_mpidrs().len(), 8);
        assert_eq!(b.core_of_mpidr(7), Some(7));
        assert_eq!(b.core_of_mpidr(0x100), None);
        assert_eq!(b.psci, PsciConduit::Smc);
        assert!(b.cmdline.flag("debug.panic_trigger"));
        assert_ne!(b.rng_seed, 0, "QEMU provides /chosen/rng-seed");
    }

    #[test]
    fn header_and_garbage() {
        assert_eq!(fdt_header(SMP4), Some((FDT_MAGIC, SMP4.len())));
        assert_eq!(fdt_header(&[0u8; 16]), None);
        assert_eq!(fdt_header(&[0xd0, 0x0d]), None);
        assert_eq!(BoardConfig::from_fdt(&[0u8; 64]).unwrap_err(), BoardError::BadBlob);
        // A truncated blob is refused, not read past its end.
        assert!(BoardConfig::from_fdt(&SMP4[..SMP4.len() / 2]).is_err());
    }

    #[test]
    fn interrupt_triples() {
        let prop = [0u32, 1, 4, 1, 11, 4].map(u32::to_be_bytes).concat();
        assert_eq!(gic_intid(&prop, 0), Ok(33));
        assert_eq!(gic_intid(&prop, 1), Ok(27));
        assert_eq!(gic_intid(&prop, 2), Err(BoardError::BadInterrupts));
        let bad = [7u32, 1, 4].map(u32::to_be_bytes).concat();
        assert_eq!(gic_intid(&bad, 0), Err(BoardError::BadInterrupts));
    }

    #[test]
    fn error_descriptions_for_the_boot_log() {
        let all = [
            (BoardError::BadBlob, "not a valid flattened device tree"),
            (BoardError::NoMemory, "no memory node"),
            (BoardError::NoCpus, "no cpu nodes"),
            (BoardError::NoUart, "no arm,pl011 node"),
            (BoardError::NoGicV3, "no arm,gic-v3 node (boot QEMU with -M virt,gic-version=3)"),
            (BoardError::NoPsci, "no usable /psci node"),
            (BoardError::NoTimer, "no arm,armv8-timer node"),
            (BoardError::BadInterrupts, "malformed interrupts property"),
        ];
        for (e, text) in all {
            assert_eq!(e.describe(), text, "{e:?}");
        }
    }

    /// A flattened device tree written by hand (the format of the devicetree specification,
    /// chapter 5), for trees QEMU does not make.
    #[derive(Default)]
    struct Dtb {
        structs: Vec<u8>,
        strings: Vec<u8>,
    }

    impl Dtb {
        fn token(&mut self, t: u32) -> &mut Self {
            self.structs.extend(t.to_be_bytes());
            self
        }
        fn pad(&mut self) {
            while !self.structs.len().is_multiple_of(4) {
                self.structs.push(0);
            }
        }
        fn begin(&mut self, name: &str) -> &mut Self {
            self.token(1);
            self.structs.extend(name.as_bytes());
            self.structs.push(0);
            self.pad();
            self
        }
        fn end(&mut self) -> &mut Self {
            self.token(2)
        }
        fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
            let offset = self.strings.len() as u32;
            self.strings.extend(name.as_bytes());
            self.strings.push(0);
            self.token(3).token(value.len() as u32).token(offset);
            self.structs.extend(value);
            self.pad();
            self
        }
        fn str(&mut self, name: &str, value: &str) -> &mut Self {
            self.prop(name, format!("{value}\0").as_bytes())
        }
        fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
            self.prop(name, &cells.iter().flat_map(|c| c.to_be_bytes()).collect::<Vec<_>>())
        }
        fn finish(&mut self) -> Vec<u8> {
            self.token(9);
            let (header, rsvmap) = (40u32, 16u32);
            let off_struct = header + rsvmap;
            let off_strings = off_struct + self.structs.len() as u32;
            let total = off_strings + self.strings.len() as u32;
            let fields = [0xd00d_feed, total, off_struct, off_strings, header, 17, 16, 0];
            let mut blob: Vec<u8> = fields.iter().flat_map(|f: &u32| f.to_be_bytes()).collect();
            blob.extend((self.strings.len() as u32).to_be_bytes());
            blob.extend((self.structs.len() as u32).to_be_bytes());
            blob.extend([0u8; 16]);
            blob.extend(&self.structs);
            blob.extend(&self.strings);
            blob
        }
    }

    /// A `virt`-like tree with one memory node of `ram` (base, size) pairs.
    fn virt_with_ram(ram: &[(u64, u64)]) -> Vec<u8> {
        virt_with(ram, 2)
    }

    /// The same with `cpus` cores (affinity as QEMU's `virt` with GICv3 gives them: 16 to a
    /// cluster).
    fn virt_with(ram: &[(u64, u64)], cpus: u32) -> Vec<u8> {
        let reg: Vec<u32> =
            ram.iter().flat_map(|&(b, s)| [(b >> 32) as u32, b as u32, (s >> 32) as u32, s as u32]).collect();
        let mut d = Dtb::default();
        d.begin("").cells("#address-cells", &[2]).cells("#size-cells", &[2]);
        d.begin("memory@40000000").str("device_type", "memory").cells("reg", &reg).end();
        d.begin("cpus").cells("#address-cells", &[1]).cells("#size-cells", &[0]);
        if cpus == 2 {
            d.begin("cpu@0").cells("reg", &[0]).end();
            d.begin("cpu@1").cells("reg", &[0x100]).end();
        } else {
            for c in 0..cpus {
                let reg = ((c / 16) << 8) | (c % 16);
                d.begin(&format!("cpu@{reg:x}")).cells("reg", &[reg]).end();
            }
        }
        d.end();
        d.begin("pl011@9000000").str("compatible", "arm,pl011").cells("reg", &[0, 0x0900_0000, 0, 0x1000]);
        d.cells("interrupts", &[0, 1, 4]).end();
        d.begin("intc@8000000").str("compatible", "arm,gic-v3");
        d.cells("reg", &[0, 0x0800_0000, 0, 0x1_0000, 0, 0x080a_0000, 0, 0xf6_0000]).end();
        d.begin("psci").str("compatible", "arm,psci-1.0").str("method", "smc").end();
        d.begin("timer").str("compatible", "arm,armv8-timer");
        d.cells("interrupts", &[1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]).end();
        d.begin("chosen").str("bootargs", "log=info").prop("rng-seed", &[1, 2, 3, 4, 5, 6, 7, 8, 9]).end();
        d.end().finish()
    }

    #[test]
    fn more_cores_than_supported_are_counted_and_left_off() {
        let blob = virt_with(&[(0x4000_0000, 1 << 30)], 70);
        let b = BoardConfig::from_fdt(&blob).unwrap();
        assert_eq!(b.cpu_mpidrs().len(), MAX_CPUS);
        assert_eq!(b.cpus_in_tree(), 70);
        assert_eq!(b.cpu_mpidrs()[17], 0x101);
        assert_eq!(b.core_of_mpidr(0x30f), Some(63));
        let blob = virt_with(&[(0x4000_0000, 1 << 30)], 64);
        let b = BoardConfig::from_fdt(&blob).unwrap();
        assert_eq!((b.cpu_mpidrs().len(), b.cpus_in_tree()), (64, 64));
    }

    #[test]
    fn a_hand_written_tree() {
        let blob = virt_with_ram(&[(0x4000_0000, 1 << 30)]);
        let b = BoardConfig::from_fdt(&blob).unwrap();
        assert_eq!(b.ram(), &[Region { base: 0x4000_0000, size: 1 << 30 }]);
        assert_eq!(b.cpu_mpidrs(), &[0, 0x100]);
        assert_eq!(b.core_of_mpidr(0x100), Some(1));
        assert_eq!((b.uart.base, b.uart_intid), (0x0900_0000, 33));
        assert_eq!((b.gicd.base, b.gicr), (0x0800_0000, Region { base: 0x080a_0000, size: 0xf6_0000 }));
        assert_eq!((b.psci, b.virtual_timer_intid), (PsciConduit::Smc, 27));
        assert_eq!(b.cmdline.get("log"), Some("info"));
        assert_eq!(b.rng_seed, u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(b.fdt_size, blob.len());
    }

    #[test]
    fn ram_regions_beyond_the_table_are_dropped() {
        let ram: Vec<(u64, u64)> =
            (0..MAX_RAM_REGIONS as u64 + 2).map(|i| (0x4000_0000 + (i << 32), 1 << 20)).collect();
        let blob = virt_with_ram(&ram);
        let b = BoardConfig::from_fdt(&blob).unwrap();
        let want: Vec<Region> = ram[..MAX_RAM_REGIONS].iter().map(|&(base, size)| Region { base, size }).collect();
        assert_eq!(b.ram(), &want[..]);
        assert_eq!(b.ram_bytes(), MAX_RAM_REGIONS as u64 * (1 << 20));
    }
}
