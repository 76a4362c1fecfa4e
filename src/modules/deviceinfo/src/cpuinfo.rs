//! `/proc/cpuinfo` parsing: CPU vendor, model and count, for x86 and ARM kernels.
//!
//! x86 kernels give `vendor_id` and `model name` per processor. ARM kernels give `CPU implementer` / `CPU part`
//! (numbers), and depending on version and word size `model name` (armv7: "ARMv7 Processor rev 5 (v7l)"),
//! `Processor` (old 32-bit kernels) and `Hardware` (the SoC, e.g. "BCM2835"). Implementer and part numbers are
//! turned into names like `lscpu` does, for the common ones.

/// The CPU facts DeviceInfo reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuInfo {
    /// x86 `vendor_id` ("GenuineIntel"), else the ARM implementer's name ("ARM"), else "".
    pub vendor_id: String,
    /// x86 `model name`; ARM `model name`, `Processor`, the core name from `CPU part`, or `Hardware`; else "".
    pub model: String,
    /// Number of `processor` entries (logical CPUs).
    pub processors: usize,
}

/// Parses the text of `/proc/cpuinfo`. Only the first value of each key is used (the first processor).
pub fn parse(text: &str) -> CpuInfo {
    let first = |key: &str| -> Option<&str> {
        text.lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(k, v)| k.trim() == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    };
    let processors =
        text.lines().filter_map(|line| line.split_once(':')).filter(|(k, _)| k.trim() == "processor").count();

    let implementer = first("CPU implementer").and_then(parse_number);
    let part = first("CPU part").and_then(parse_number);

    let vendor_id =
        first("vendor_id").map(str::to_string).or_else(|| implementer.map(implementer_name)).unwrap_or_default();
    let model = first("model name")
        .or_else(|| first("Processor"))
        .map(str::to_string)
        .or_else(|| implementer.zip(part).and_then(|(i, p)| part_name(i, p)).map(str::to_string))
        .or_else(|| first("Hardware").map(str::to_string))
        .unwrap_or_default();
    CpuInfo { vendor_id, model, processors }
}

/// `0x41` or `65` as a number.
fn parse_number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The ARM implementer code's name (the table `lscpu` uses), or the code in hex when unknown.
fn implementer_name(code: u32) -> String {
    let name = match code {
        0x41 => "ARM",
        0x42 => "Broadcom",
        0x43 => "Cavium",
        0x44 => "DEC",
        0x46 => "FUJITSU",
        0x48 => "HiSilicon",
        0x49 => "Infineon",
        0x4d => "Motorola/Freescale",
        0x4e => "NVIDIA",
        0x50 => "APM",
        0x51 => "Qualcomm",
        0x53 => "Samsung",
        0x56 => "Marvell",
        0x61 => "Apple",
        0x66 => "Faraday",
        0x69 => "Intel",
        0x6d => "Microsoft",
        0x70 => "Phytium",
        0xc0 => "Ampere",
        _ => return format!("0x{code:02x}"),
    };
    name.to_string()
}

/// The core name for ARM Ltd. designs (implementer 0x41); other implementers' parts are not named.
fn part_name(implementer: u32, part: u32) -> Option<&'static str> {
    if implementer != 0x41 {
        return None;
    }
    Some(match part {
        0xb76 => "ARM1176",
        0xc05 => "Cortex-A5",
        0xc07 => "Cortex-A7",
        0xc08 => "Cortex-A8",
        0xc09 => "Cortex-A9",
        0xc0d | 0xc0e => "Cortex-A17",
        0xc0f => "Cortex-A15",
        0xd01 => "Cortex-A32",
        0xd02 => "Cortex-A34",
        0xd03 => "Cortex-A53",
        0xd04 => "Cortex-A35",
        0xd05 => "Cortex-A55",
        0xd06 => "Cortex-A65",
        0xd07 => "Cortex-A57",
        0xd08 => "Cortex-A72",
        0xd09 => "Cortex-A73",
        0xd0a => "Cortex-A75",
        0xd0b => "Cortex-A76",
        0xd0c => "Neoverse-N1",
        0xd0d => "Cortex-A77",
        0xd40 => "Neoverse-V1",
        0xd41 => "Cortex-A78",
        0xd44 => "Cortex-X1",
        0xd46 => "Cortex-A510",
        0xd47 => "Cortex-A710",
        0xd48 => "Cortex-X2",
        0xd49 => "Neoverse-N2",
        0xd4d => "Cortex-A715",
        0xd4e => "Cortex-X3",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n\
        model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu vme\n\n\
        processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n";

    // What a QEMU cortex-a57 guest shows (aarch64 kernels have no model name).
    const AARCH64: &str = "processor\t: 0\nBogoMIPS\t: 125.00\nFeatures\t: fp asimd evtstrm cpuid\n\
        CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd07\n\
        CPU revision\t: 0\n";

    // A Raspberry Pi running a 32-bit kernel.
    const ARMV7: &str = "processor\t: 0\nmodel name\t: ARMv7 Processor rev 4 (v7l)\nBogoMIPS\t: 38.40\n\
        CPU implementer\t: 0x41\nCPU part\t: 0xd03\n\nprocessor\t: 1\nmodel name\t: ARMv7 Processor rev 4 (v7l)\n\n\
        Hardware\t: BCM2835\nRevision\t: a02082\nModel\t\t: Raspberry Pi 3 Model B Rev 1.2\n";

    #[test]
    fn test_parse_x86() {
        let cpu = parse(X86);
        assert_eq!(cpu.vendor_id, "GenuineIntel");
        assert_eq!(cpu.model, "Intel(R) Xeon(R) Processor");
        assert_eq!(cpu.processors, 2);
    }

    #[test]
    fn test_parse_aarch64_names_part() {
        let cpu = parse(AARCH64);
        assert_eq!(cpu.vendor_id, "ARM");
        assert_eq!(cpu.model, "Cortex-A57");
        assert_eq!(cpu.processors, 1);
    }

    #[test]
    fn test_parse_armv7_prefers_model_name() {
        let cpu = parse(ARMV7);
        assert_eq!(cpu.vendor_id, "ARM");
        assert_eq!(cpu.model, "ARMv7 Processor rev 4 (v7l)");
        assert_eq!(cpu.processors, 2);
    }

    #[test]
    fn test_parse_old_arm_processor_key() {
        let cpu = parse(
            "Processor\t: ARMv6-compatible processor rev 7 (v6l)\nCPU implementer\t: 0x41\nHardware\t: BCM2708\n",
        );
        assert_eq!(cpu.model, "ARMv6-compatible processor rev 7 (v6l)");
    }

    #[test]
    fn test_parse_unknown_part_falls_back_to_hardware() {
        let cpu = parse(
            "processor : 0\nCPU implementer : 0x51\nCPU part : 0x801\nHardware : Qualcomm Technologies, Inc SDM845\n",
        );
        assert_eq!(cpu.vendor_id, "Qualcomm");
        assert_eq!(cpu.model, "Qualcomm Technologies, Inc SDM845");
    }

    #[test]
    fn test_parse_unknown_implementer_is_hex() {
        assert_eq!(parse("CPU implementer : 0x99\n").vendor_id, "0x99");
    }

    #[test]
    fn test_parse_empty_values_are_skipped() {
        let cpu = parse("vendor_id :\nmodel name : \n");
        assert_eq!(cpu, CpuInfo::default());
    }

    #[test]
    fn test_parse_number_hex_and_decimal() {
        assert_eq!(parse_number("0x41"), Some(0x41));
        assert_eq!(parse_number("65"), Some(65));
        assert_eq!(parse_number("zz"), None);
    }
}
