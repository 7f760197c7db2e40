"""Small, valid files that are expensive to decode (SPEC §9), made here byte by byte
(nothing binary is committed). Shared by the hostile corpus tests and ``bench.decode``.

- A progressive JPEG with one scan per AC coefficient and bit plane: every scan holds
  nothing but end-of-band runs, so the file is small, and a decoder still visits every
  8x8 block once per scan (883 scans for greyscale, 2647 for colour).
- An Adam7-interlaced 16-bit RGBA PNG of zeros: ~400 KB that a decoder must hold whole
  (7000x7000x8 bytes) before it can hand out the first row.
- A PNG with compressed text chunks (zTXt) of 50 MB each, every one under libvips's
  per-chunk cap, which a decoder that keeps metadata inflates into memory.
"""

import functools
import struct
import zlib


class _Bits:
    """An entropy-coded segment: bits written MSB first, FF bytes stuffed, 1-padded."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.value = 0
        self.count = 0

    def put(self, value: int, length: int) -> None:
        self.value = (self.value << length) | value
        self.count += length
        while self.count >= 8:
            self.count -= 8
            byte = (self.value >> self.count) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0x00)
        self.value &= (1 << self.count) - 1

    def zeros(self, length: int) -> None:
        if self.count == 0:
            self.out += bytes(length // 8)
            length %= 8
        for _ in range(length):
            self.put(0, 1)

    def close(self) -> bytes:
        if self.count:
            self.put((1 << (8 - self.count)) - 1, 8 - self.count)
        return bytes(self.out)


def _segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", 2 + len(payload)) + payload


def _eob_runs(bits: _Bits, blocks: int) -> None:
    """End-of-band runs covering ``blocks`` blocks. AC symbol EOBr (r << 4) is coded as
    the 4-bit code r (the table below), then r extra bits: a run of 2**r + extra."""
    while blocks:
        run = min(blocks, 32767)
        r = run.bit_length() - 1
        bits.put(r, 4)
        if r:
            bits.put(run - (1 << r), r)
        blocks -= run


def many_scan_jpeg(width: int, height: int, *, components: int = 1) -> bytes:
    """A valid progressive JPEG with 1 + 882 x ``components`` scans (all-zero picture)."""
    blocks = -(-width // 8) * -(-height // 8)
    ids = range(1, components + 1)
    out = bytearray(b"\xff\xd8")
    out += _segment(0xDB, b"\x00" + bytes([1] * 64))  # quantisation table 0: all ones
    frame = struct.pack(">BHHB", 8, height, width, components)
    out += _segment(0xC2, frame + b"".join(bytes([i, 0x11, 0]) for i in ids))
    # DC table 0: one symbol (difference category 0), code "0".
    out += _segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")
    # AC table 0: EOB0..EOB14, all 4-bit codes (0000..1110).
    out += _segment(0xC4, b"\x10" + bytes([0, 0, 0, 15] + [0] * 12) + bytes(range(0, 0xF0, 0x10)))
    # The DC scan, all components interleaved: one "0" per block.
    header = bytes([components]) + b"".join(bytes([i, 0x00]) for i in ids) + b"\x00\x00\x00"
    bits = _Bits()
    bits.zeros(blocks * components)
    out += _segment(0xDA, header) + bits.close()
    # Every AC coefficient of every component alone: a first scan at bit 13, then a
    # refinement scan per lower bit.
    for ident in ids:
        for k in range(1, 64):
            for high, low in [(0, 13), *((a, a - 1) for a in range(13, 0, -1))]:
                header = bytes([1, ident, 0x00, k, k, (high << 4) | low])
                bits = _Bits()
                _eob_runs(bits, blocks)
                out += _segment(0xDA, header) + bits.close()
    return bytes(out + b"\xff\xd9")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


_ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2)]
_ADAM7 += [(0, 1, 1, 2)]


@functools.cache
def interlaced_16_bit_png(width: int, height: int) -> bytes:
    """A valid Adam7-interlaced 16-bit RGBA PNG, all zeros (8 bytes a pixel)."""
    deflate = zlib.compressobj(9)
    compressed = []
    for x0, y0, dx, dy in _ADAM7:
        columns, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns <= 0 or rows <= 0:
            continue
        row = bytes(1 + columns * 8)  # filter type 0, then the samples
        batch = max(1, (4 << 20) // len(row))
        for start in range(0, rows, batch):
            compressed.append(deflate.compress(row * min(batch, rows - start)))
    compressed.append(deflate.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"".join(compressed))
        + _png_chunk(b"IEND", b"")
    )


@functools.cache
def _ztxt_50mb() -> bytes:
    return _png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(bytes(50_000_000), 9))


def ztxt_bomb_png(png: bytes, *, chunks: int = 8) -> bytes:
    """``png`` with ``chunks`` zTXt chunks after its IHDR, each inflating to 50 MB."""
    return png[:33] + _ztxt_50mb() * chunks + png[33:]
