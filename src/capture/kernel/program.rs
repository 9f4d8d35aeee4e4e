//! The write tracer's two BPF programs and the record they emit.
//!
//! - `enter`, on `syscalls:sys_enter_{write,writev,sendto,sendmsg,sendmmsg,
//!   sendfile64,splice}`: remembers when the calling thread entered the
//!   call (thread id → time, in an LRU hash).
//! - `send`, on `sock:sock_send_length` (every `sendmsg` a socket completes,
//!   whatever the system call): for TCP sockets of family IPv4/IPv6 that
//!   sent at least one byte, emits a [`Record`] with the entry time, the
//!   return time, the bytes, the socket's addresses and ports and the byte
//!   holding `tcp_sock.nonagle` (TCP_NODELAY and TCP_CORK bits), read at
//!   the offsets BTF gave. A full ring buffer is counted, not waited on.
//!
//! What it does not do: filter by address (userspace does); read the
//! written bytes.

use super::insn::{Asm, Cond, Helper, Size, R0, R1, R10, R2, R3, R4, R6, R7, R8};

/// Offsets (bytes from `struct sock`'s start) of the fields read.
#[derive(Debug, Clone, Copy)]
pub struct Offsets {
    pub daddr: i32,
    pub rcv_saddr: i32,
    pub dport: i32,
    pub num: i32,
    /// IPv6 addresses, when the kernel has them.
    pub v6: Option<(i32, i32)>,
    /// The byte holding the `nonagle` bitfield.
    pub nonagle: Option<i32>,
}

/// The record's layout (bytes). `RECORD` long, on the program's stack at
/// `-RECORD` from the frame pointer.
pub mod rec {
    pub const ENTER: usize = 0;
    pub const EXIT: usize = 8;
    pub const SK: usize = 16;
    pub const PID_TGID: usize = 24;
    pub const RET: usize = 32;
    pub const FAMILY: usize = 36;
    pub const NONAGLE: usize = 38;
    pub const DADDR: usize = 40;
    pub const SADDR: usize = 44;
    pub const DPORT: usize = 48;
    pub const NUM: usize = 50;
    pub const V6_DADDR: usize = 56;
    pub const V6_SADDR: usize = 72;
    /// Set when the `nonagle` byte was read.
    pub const HAS_NONAGLE: usize = 88;
    pub const LEN: usize = 96;
}

/// Tracepoint record offsets of `sock:sock_send_length`.
const TP_SK: i16 = 8;
const TP_FAMILY: i16 = 16;
const TP_PROTOCOL: i16 = 18;
const TP_RET: i16 = 20;

const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;
const IPPROTO_TCP: i32 = 6;

/// Stack slots below the record: the thread key and the counter key.
const KEY: i16 = -(rec::LEN as i16) - 8;
const ZERO_KEY: i16 = KEY - 8;

fn slot(field: usize) -> i16 {
    field as i16 - rec::LEN as i16
}

/// `enter`: `enter_map[pid_tgid] = now`.
pub fn enter(enter_map: i32) -> Vec<u8> {
    let mut a = Asm::default();
    a.call(Helper::GetCurrentPidTgid)
        .store(Size::DW, R10, -8, R0)
        .call(Helper::KtimeGetNs)
        .store(Size::DW, R10, -16, R0)
        .load_map(R1, enter_map)
        .mov_reg(R2, R10)
        .add_imm(R2, -8)
        .mov_reg(R3, R10)
        .add_imm(R3, -16)
        .mov_imm(R4, 0)
        .call(Helper::MapUpdateElem)
        .mov_imm(R0, 0)
        .exit();
    a.finish()
}

/// `probe_read_kernel(&record[field], len, sk + off)`.
fn read_sk(a: &mut Asm, field: usize, len: i32, off: i32) {
    a.mov_reg(R1, R10)
        .add_imm(R1, slot(field) as i32)
        .mov_imm(R2, len)
        .mov_reg(R3, R8)
        .add_imm(R3, off)
        .call(Helper::ProbeReadKernel);
}

/// `send`: see the module docs. `lost` is a one-entry array counting
/// records the ring buffer had no room for.
pub fn send(o: &Offsets, enter_map: i32, ring: i32, lost: i32) -> Vec<u8> {
    let mut a = Asm::default();
    let (out, family_ok, no_enter) = (a.new_label(), a.new_label(), a.new_label());
    a.mov_reg(R6, R1)
        .load(Size::H, R2, R6, TP_PROTOCOL)
        .jump_if(Cond::Ne, R2, IPPROTO_TCP, out)
        .load(Size::H, R2, R6, TP_FAMILY)
        .jump_if(Cond::Eq, R2, AF_INET, family_ok)
        .jump_if(Cond::Ne, R2, AF_INET6, out)
        .label(family_ok)
        .load(Size::W, R7, R6, TP_RET)
        .jump32_if(Cond::Sle, R7, 0, out);
    for i in (0..rec::LEN).step_by(8) {
        a.store_imm(Size::DW, R10, slot(i), 0);
    }
    a.store(Size::W, R10, slot(rec::RET), R7)
        .load(Size::H, R2, R6, TP_FAMILY)
        .store(Size::H, R10, slot(rec::FAMILY), R2)
        .load(Size::DW, R8, R6, TP_SK)
        .store(Size::DW, R10, slot(rec::SK), R8)
        .call(Helper::KtimeGetNs)
        .store(Size::DW, R10, slot(rec::EXIT), R0)
        .call(Helper::GetCurrentPidTgid)
        .store(Size::DW, R10, slot(rec::PID_TGID), R0)
        .store(Size::DW, R10, KEY, R0)
        .load_map(R1, enter_map)
        .mov_reg(R2, R10)
        .add_imm(R2, KEY as i32)
        .call(Helper::MapLookupElem)
        .jump_if(Cond::Eq, R0, 0, no_enter)
        .load(Size::DW, R1, R0, 0)
        .store(Size::DW, R10, slot(rec::ENTER), R1)
        .label(no_enter);
    read_sk(&mut a, rec::DADDR, 4, o.daddr);
    read_sk(&mut a, rec::SADDR, 4, o.rcv_saddr);
    read_sk(&mut a, rec::DPORT, 2, o.dport);
    read_sk(&mut a, rec::NUM, 2, o.num);
    if let Some((d, s)) = o.v6 {
        read_sk(&mut a, rec::V6_DADDR, 16, d);
        read_sk(&mut a, rec::V6_SADDR, 16, s);
    }
    if let Some(n) = o.nonagle {
        read_sk(&mut a, rec::NONAGLE, 1, n);
        a.store_imm(Size::B, R10, slot(rec::HAS_NONAGLE), 1);
    }
    a.load_map(R1, ring)
        .mov_reg(R2, R10)
        .add_imm(R2, -(rec::LEN as i32))
        .mov_imm(R3, rec::LEN as i32)
        .mov_imm(R4, 0)
        .call(Helper::RingbufOutput)
        .jump_if(Cond::Eq, R0, 0, out)
        .store_imm(Size::W, R10, ZERO_KEY, 0)
        .load_map(R1, lost)
        .mov_reg(R2, R10)
        .add_imm(R2, ZERO_KEY as i32)
        .call(Helper::MapLookupElem)
        .jump_if(Cond::Eq, R0, 0, out)
        .mov_imm(R1, 1)
        .atomic_add64(R0, 0, R1)
        .label(out)
        .mov_imm(R0, 0)
        .exit();
    a.finish()
}
