//! The kernel's own type information (BTF, `/sys/kernel/btf/vmlinux`):
//! where a field lies inside a kernel struct on *this* kernel.
//!
//! The write tracer reads a few fields of `struct sock` and `struct
//! tcp_sock` (addresses, ports, `nonagle`). Their offsets change between
//! kernel builds, so they are looked up here at load time and written into
//! the BPF program as constants: what libbpf calls CO-RE, done by hand for
//! the handful of fields needed.
//!
//! What it does not do: it reads only struct, union, typedef and qualifier
//! types (enough to walk members, including anonymous unions); it never
//! validates the whole file.

use anyhow::{bail, Context};

const MAGIC: u16 = 0xeb9f;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_TYPE_TAG: u32 = 18;

/// Where a member lies: bit offset from the start of the outer struct, and
/// its width in bits when it is a bitfield.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldPos {
    pub bit_offset: u32,
    pub bitfield: Option<u32>,
}

impl FieldPos {
    /// The byte holding the field's first bit.
    pub fn byte(&self) -> u32 {
        self.bit_offset / 8
    }
}

/// One type entry, as much as member lookup needs.
#[derive(Debug, Clone)]
struct Type {
    name_off: u32,
    kind: u32,
    kind_flag: bool,
    /// `type` of typedefs and qualifiers.
    target: u32,
    /// Members of structs and unions: (name_off, type, offset word).
    members: Vec<(u32, u32, u32)>,
}

/// Parsed BTF: types (id 1 is `types[1]`; `types[0]` is void) and strings.
pub struct Btf {
    types: Vec<Type>,
    strings: Vec<u8>,
}

fn u32_at(b: &[u8], off: usize) -> anyhow::Result<u32> {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes(s.try_into().unwrap()))
        .context("BTF ends inside a record")
}

/// Bytes that follow a type's 12-byte header, by kind.
fn trailing(kind: u32, vlen: usize) -> usize {
    match kind {
        1 | 14 | 17 => 4,             // int, var, decl tag
        3 => 12,                      // array
        4 | 5 | 15 | 19 => 12 * vlen, // struct, union, datasec, enum64
        6 | 13 => 8 * vlen,           // enum, func proto
        _ => 0,
    }
}

impl Btf {
    /// The running kernel's BTF.
    pub fn vmlinux() -> anyhow::Result<Btf> {
        let path = "/sys/kernel/btf/vmlinux";
        let data = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
        Btf::parse(&data).with_context(|| format!("{path} is not BTF this tool reads"))
    }

    pub fn parse(data: &[u8]) -> anyhow::Result<Btf> {
        if data.len() < 24 || u16::from_le_bytes([data[0], data[1]]) != MAGIC {
            bail!("no little-endian BTF magic");
        }
        let hdr_len = u32_at(data, 4)? as usize;
        let (type_off, type_len) = (u32_at(data, 8)? as usize, u32_at(data, 12)? as usize);
        let (str_off, str_len) = (u32_at(data, 16)? as usize, u32_at(data, 20)? as usize);
        let section = |off: usize, len: usize| {
            data.get(hdr_len + off..hdr_len + off + len)
                .context("BTF section outside the file")
        };
        let strings = section(str_off, str_len)?.to_vec();
        let tb = section(type_off, type_len)?;
        let mut types = vec![Type {
            name_off: 0,
            kind: 0,
            kind_flag: false,
            target: 0,
            members: Vec::new(),
        }];
        let mut at = 0;
        while at < tb.len() {
            let (name_off, info, target) =
                (u32_at(tb, at)?, u32_at(tb, at + 4)?, u32_at(tb, at + 8)?);
            let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
            let mut members = Vec::new();
            if kind == KIND_STRUCT || kind == KIND_UNION {
                for m in 0..vlen {
                    let o = at + 12 + 12 * m;
                    members.push((u32_at(tb, o)?, u32_at(tb, o + 4)?, u32_at(tb, o + 8)?));
                }
            }
            types.push(Type {
                name_off,
                kind,
                kind_flag: info >> 31 == 1,
                target,
                members,
            });
            at += 12 + trailing(kind, vlen);
        }
        Ok(Btf { types, strings })
    }

    fn name(&self, off: u32) -> &[u8] {
        let s = self.strings.get(off as usize..).unwrap_or(&[]);
        &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
    }

    /// The id of the struct named `name`.
    fn find_struct(&self, name: &str) -> Option<usize> {
        self.types.iter().position(|t| {
            t.kind == KIND_STRUCT
                && !t.members.is_empty()
                && self.name(t.name_off) == name.as_bytes()
        })
    }

    /// Through typedefs and qualifiers to the type itself.
    fn resolve(&self, mut id: usize) -> usize {
        for _ in 0..32 {
            match self.types.get(id) {
                Some(t)
                    if matches!(
                        t.kind,
                        KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG
                    ) =>
                {
                    id = t.target as usize
                }
                _ => break,
            }
        }
        id
    }

    /// Member `name` of composite type `id`, looking inside anonymous
    /// structs and unions; its position relative to `id`'s start.
    fn member_in(&self, id: usize, name: &str, depth: u32) -> Option<FieldPos> {
        let t = self.types.get(self.resolve(id))?;
        if depth > 8 || !(t.kind == KIND_STRUCT || t.kind == KIND_UNION) {
            return None;
        }
        for &(name_off, ty, off) in &t.members {
            let (bit_offset, bitfield) = if t.kind_flag {
                (off & 0xff_ffff, Some(off >> 24).filter(|&b| b > 0))
            } else {
                (off, None)
            };
            if self.name(name_off) == name.as_bytes() {
                return Some(FieldPos {
                    bit_offset,
                    bitfield,
                });
            }
            if name_off == 0 {
                if let Some(p) = self.member_in(ty as usize, name, depth + 1) {
                    return Some(FieldPos {
                        bit_offset: bit_offset + p.bit_offset,
                        bitfield: p.bitfield,
                    });
                }
            }
        }
        None
    }

    /// The position of `field` in `struct name`.
    pub fn field(&self, name: &str, field: &str) -> anyhow::Result<FieldPos> {
        let id = self
            .find_struct(name)
            .with_context(|| format!("the kernel's BTF has no struct {name}"))?;
        self.member_in(id, field, 0)
            .with_context(|| format!("struct {name} has no member {field} in the kernel's BTF"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny BTF: struct outer { int a; union { int b; }; u8 c:4, d:4; }.
    fn sample() -> Vec<u8> {
        let strings = b"\0int\0outer\0a\0b\0c\0d\0";
        let name = |s: &str| {
            let hay = String::from_utf8_lossy(strings);
            hay.find(&format!("\0{s}\0")).unwrap() as u32 + 1
        };
        let words: Vec<u32> = [
            vec![name("int"), 1 << 24, 4, 32],                  // 1: int
            vec![0, (5 << 24) | 1, 4, name("b"), 1, 0],         // 2: union { int b }
            vec![name("outer"), (1 << 31) | (4 << 24) | 4, 12], // 3: struct, kind_flag
            vec![name("a"), 1, 0, 0, 2, 32],                    //    a; the union
            vec![name("c"), 1, (4 << 24) | 64, name("d"), 1, (4 << 24) | 68],
        ]
        .concat();
        let types: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let (tl, sl) = (types.len() as u32, strings.len() as u32);
        let header = [0x0001_eb9fu32, 24, 0, tl, tl, sl];
        let mut data: Vec<u8> = header.iter().flat_map(|w| w.to_le_bytes()).collect();
        data.extend_from_slice(&types);
        data.extend_from_slice(strings);
        data
    }

    #[test]
    fn members_inside_anonymous_unions_and_bitfields() {
        let btf = Btf::parse(&sample()).unwrap();
        assert_eq!(
            btf.field("outer", "a").unwrap(),
            FieldPos {
                bit_offset: 0,
                bitfield: None
            }
        );
        assert_eq!(btf.field("outer", "b").unwrap().bit_offset, 32);
        let d = btf.field("outer", "d").unwrap();
        assert_eq!((d.byte(), d.bit_offset % 8, d.bitfield), (8, 4, Some(4)));
        assert!(btf.field("outer", "zz").is_err());
        assert!(btf.field("nope", "a").is_err());
        assert!(Btf::parse(b"not btf at all, not at all").is_err());
    }

    #[test]
    fn this_kernel_has_the_fields_the_tracer_reads() {
        let Ok(btf) = Btf::vmlinux() else {
            eprintln!("skipped: no /sys/kernel/btf/vmlinux on this machine");
            return;
        };
        let nonagle = btf.field("tcp_sock", "nonagle").unwrap();
        assert_eq!(nonagle.bitfield, Some(4), "{nonagle:?}");
        for f in [
            "skc_daddr",
            "skc_rcv_saddr",
            "skc_dport",
            "skc_num",
            "skc_v6_daddr",
            "skc_v6_rcv_saddr",
        ] {
            btf.field("sock_common", f).unwrap();
        }
        assert_eq!(btf.field("sock", "__sk_common").unwrap().bit_offset, 0);
    }
}
