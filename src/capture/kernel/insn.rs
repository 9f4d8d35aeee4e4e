//! eBPF instructions, encoded by hand: the few the write tracer needs.
//!
//! The tracer's programs are a few dozen instructions; writing them here
//! keeps the build free of clang, LLVM and a nightly toolchain (what a BPF
//! program in C or Rust would need) while the kernel's verifier still
//! checks every one at load time.
//!
//! What it does not do: it is not an assembler. Jumps take a [`Label`] and
//! are patched by [`Asm::finish`].

/// One 8-byte instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub fn bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

/// Register numbers: R0 return value, R1–R5 arguments (clobbered by calls),
/// R6–R9 kept across calls, R10 the read-only frame pointer.
pub const R0: u8 = 0;
pub const R1: u8 = 1;
pub const R2: u8 = 2;
pub const R3: u8 = 3;
pub const R4: u8 = 4;
pub const R6: u8 = 6;
pub const R7: u8 = 7;
pub const R8: u8 = 8;
pub const R10: u8 = 10;

/// Memory access widths.
#[derive(Debug, Clone, Copy)]
pub enum Size {
    B = 0x10,
    H = 0x08,
    W = 0x00,
    DW = 0x18,
}

/// Conditional jumps.
#[derive(Debug, Clone, Copy)]
pub enum Cond {
    Eq = 0x10,
    Ne = 0x50,
    Sle = 0xd0,
}

/// Kernel helper functions, by their stable numbers (`enum bpf_func_id`).
#[derive(Debug, Clone, Copy)]
pub enum Helper {
    MapLookupElem = 1,
    MapUpdateElem = 2,
    KtimeGetNs = 5,
    GetCurrentPidTgid = 14,
    ProbeReadKernel = 113,
    RingbufOutput = 130,
}

const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const ST: u8 = 0x02;
const STX: u8 = 0x03;
const JMP: u8 = 0x05;
const JMP32: u8 = 0x06;
const ALU64: u8 = 0x07;
const MEM: u8 = 0x60;
const ATOMIC: u8 = 0xc0;
const IMM: u8 = 0x00;
const K: u8 = 0x00;
const X: u8 = 0x08;
const MOV: u8 = 0xb0;
const ADD: u8 = 0x00;
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;
/// `src` of a 64-bit load that names a map by descriptor.
const PSEUDO_MAP_FD: u8 = 1;

/// A jump target, placed with [`Asm::label`].
#[derive(Debug, Clone, Copy)]
pub struct Label(usize);

/// A program under construction.
#[derive(Default)]
pub struct Asm {
    insns: Vec<Insn>,
    /// (instruction index, label) of jumps to patch.
    jumps: Vec<(usize, Label)>,
    /// Label positions (instruction index), once placed.
    labels: Vec<Option<usize>>,
}

fn regs(dst: u8, src: u8) -> u8 {
    (src << 4) | (dst & 0xf)
}

impl Asm {
    fn push(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) -> &mut Self {
        self.insns.push(Insn {
            code,
            regs: regs(dst, src),
            off,
            imm,
        });
        self
    }

    pub fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Place `l` at the next instruction.
    pub fn label(&mut self, l: Label) -> &mut Self {
        self.labels[l.0] = Some(self.insns.len());
        self
    }

    pub fn mov_reg(&mut self, dst: u8, src: u8) -> &mut Self {
        self.push(ALU64 | MOV | X, dst, src, 0, 0)
    }
    pub fn mov_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.push(ALU64 | MOV | K, dst, 0, 0, imm)
    }
    pub fn add_imm(&mut self, dst: u8, imm: i32) -> &mut Self {
        self.push(ALU64 | ADD | K, dst, 0, 0, imm)
    }
    /// `dst = *(size *)(src + off)`
    pub fn load(&mut self, size: Size, dst: u8, src: u8, off: i16) -> &mut Self {
        self.push(LDX | MEM | size as u8, dst, src, off, 0)
    }
    /// `*(size *)(dst + off) = src`
    pub fn store(&mut self, size: Size, dst: u8, off: i16, src: u8) -> &mut Self {
        self.push(STX | MEM | size as u8, dst, src, off, 0)
    }
    /// `*(size *)(dst + off) = imm`
    pub fn store_imm(&mut self, size: Size, dst: u8, off: i16, imm: i32) -> &mut Self {
        self.push(ST | MEM | size as u8, dst, 0, off, imm)
    }
    /// `lock *(u64 *)(dst + off) += src`
    pub fn atomic_add64(&mut self, dst: u8, off: i16, src: u8) -> &mut Self {
        self.push(STX | ATOMIC | Size::DW as u8, dst, src, off, ADD as i32)
    }
    /// `dst = map` (a two-instruction load of the map's descriptor).
    pub fn load_map(&mut self, dst: u8, map_fd: i32) -> &mut Self {
        self.push(LD | IMM | Size::DW as u8, dst, PSEUDO_MAP_FD, 0, map_fd);
        self.push(0, 0, 0, 0, 0)
    }
    pub fn call(&mut self, h: Helper) -> &mut Self {
        self.push(JMP | CALL, 0, 0, 0, h as i32)
    }
    pub fn exit(&mut self) -> &mut Self {
        self.push(JMP | EXIT, 0, 0, 0, 0)
    }
    fn jump_to(&mut self, code: u8, dst: u8, imm: i32, l: Label) -> &mut Self {
        self.jumps.push((self.insns.len(), l));
        self.push(code, dst, 0, 0, imm)
    }
    /// `if dst <cond> imm goto l` (64-bit compare).
    pub fn jump_if(&mut self, cond: Cond, dst: u8, imm: i32, l: Label) -> &mut Self {
        self.jump_to(JMP | cond as u8 | K, dst, imm, l)
    }
    /// `if (s32/u32) dst <cond> imm goto l` (32-bit compare).
    pub fn jump32_if(&mut self, cond: Cond, dst: u8, imm: i32, l: Label) -> &mut Self {
        self.jump_to(JMP32 | cond as u8 | K, dst, imm, l)
    }

    /// The program's bytes, with every jump resolved.
    pub fn finish(mut self) -> Vec<u8> {
        for &(at, l) in &self.jumps {
            let to = self.labels[l.0].expect("a jump to a label never placed");
            self.insns[at].off = (to as i64 - at as i64 - 1) as i16;
        }
        self.insns.iter().flat_map(|i| i.bytes()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_kernels_documentation() {
        // r0 = 0; exit  ==  b7 00 .. 00, 95 00 .. 00
        let mut a = Asm::default();
        a.mov_imm(R0, 0).exit();
        assert_eq!(
            a.finish(),
            [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]
        );
        // r2 = *(u16 *)(r6 + 18): 0x69, dst 2, src 6, off 18.
        let mut a = Asm::default();
        a.load(Size::H, R2, R6, 18);
        assert_eq!(a.finish(), [0x69, 0x62, 18, 0, 0, 0, 0, 0]);
        // lddw r1, map fd 7: 0x18 with src 1, then a zero instruction.
        let mut a = Asm::default();
        a.load_map(R1, 7);
        assert_eq!(
            a.finish(),
            [0x18, 0x11, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        // lock *(u64 *)(r0 + 0) += r1: 0xdb, imm BPF_ADD.
        let mut a = Asm::default();
        a.atomic_add64(R0, 0, R1);
        assert_eq!(a.finish()[..2], [0xdb, 0x10]);
    }

    #[test]
    fn jumps_land_on_their_labels() {
        let mut a = Asm::default();
        let out = a.new_label();
        a.jump_if(Cond::Ne, R2, 6, out) // 0 → 3: off 2
            .mov_imm(R0, 1)
            .jump32_if(Cond::Sle, R7, 0, out) // 2 → 3: off 0
            .label(out)
            .exit();
        let b = a.finish();
        assert_eq!((b[0], b[2], b[4]), (0x55, 2, 6));
        assert_eq!((b[16], b[17], b[18]), (0xd6, 7, 0));
    }
}
