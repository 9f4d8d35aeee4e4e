#!/usr/bin/env python3
# A SYN flood as a pcap (LINKTYPE_RAW): N SYNs from distinct IPv4 sources,
# random ports and ISNs, 1 us apart. Usage: syn-flood.py OUT N (scripts/live-limits.sh).
import struct, sys, random
n = int(sys.argv[2]); out = open(sys.argv[1], "wb")
out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 101))  # LINKTYPE_RAW
rnd = random.Random(1)
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b)//2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
dst = bytes([192,0,2,1])
buf = bytearray()
for i in range(n):
    src = struct.pack("!I", 0x0a000000 + i)
    tcp = struct.pack("!HHIIBBHHH", 1024 + rnd.randrange(60000), 80, rnd.getrandbits(32), 0, 6 << 4, 0x02, 65535, 0, 0) + b"\x02\x04\x05\xb4"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    pkt = ip + tcp
    t = 1_700_000_000_000_000 + i * 1  # 1 µs apart
    buf += struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(pkt), len(pkt)) + pkt
    if len(buf) > 1 << 20: out.write(buf); buf.clear()
out.write(buf)
