"""What a JPEG or PNG will cost to decode, read from its structure before any pixel is.

Pure Python over the bytes (no libvips): the JPEG's markers and the PNG's chunks are
walked once, the way libjpeg and libspng walk them, to count what multiplies the work of
a decode (progressive scans, chunks) and the memory it holds at once (a progressive
JPEG's coefficients, an interlaced PNG's pixels), and to hand the decoder bytes it can
read without tripping over what browsers ignore:

- JPEG: stray bytes between header segments (a segment length one off, a ``FF 00`` pair
  in the header) make libjpeg warn "extraneous bytes before marker", and we refuse on
  warnings because the same warning inside the picture data means it is damaged. Browsers
  show such files; the copy we decode has the stray header bytes removed, and the stored
  original stays as sent.
- PNG: text chunks (tEXt, zTXt, iTXt) are dropped from the copy we decode: thumbnails
  carry no metadata, and libvips would inflate every zTXt into memory (50 MB each); so
  is a colour profile (iCCP) that inflates to more than the metadata budget.
"""

import re
import zlib
from dataclasses import dataclass

from pixtier.common.exceptions import OverBudget

# Start-of-frame markers: FFC0-FFCF except DHT (C4), JPG (C8) and DAC (CC).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
_LOSSLESS = {0xC3, 0xC7, 0xCB, 0xCF}
_HIERARCHICAL = {0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF}
# The end of an entropy-coded segment: a marker that is not a stuffed FF00 or a restart
# marker (FFD0-FFD7); any FF fill bytes before it are walked back over. The pattern starts
# with a single literal byte, which the regex engine scans for at memchr speed: 1 ms over
# a 2 MB 12 MP photo, where ``\xff+[^...]`` tried a match at every byte (15 ms).
_MARKER_AFTER_FF = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# libjpeg keeps each 8x8 block's 64 coefficients as 16-bit numbers.
_COEFFICIENT_BYTES = 64 * 2


@dataclass(frozen=True)
class JpegBudget:
    max_scans: int  # the walk stops past it


@dataclass(frozen=True)
class PngBudget:
    max_chunks: int  # the walk stops past it
    max_metadata_bytes: int  # inflated size of a colour profile we keep


@dataclass(frozen=True)
class JpegFacts:
    precision: int  # bits per sample; libjpeg as built here decodes 8 only
    frame: str  # "baseline", "progressive", "lossless", "hierarchical" (or "" if no frame)
    scans: int
    scan_blocks: int  # 8x8 blocks decoded, summed over the scans
    decode_bytes: int  # held at once by the decoder beyond a few rows
    complete: bool  # its end marker (EOI) follows its scans
    decodable: bytes  # the file, less stray bytes between header segments


@dataclass(frozen=True)
class PngFacts:
    bit_depth: int
    interlaced: bool
    decode_bytes: int  # held at once by the decoder beyond a few rows
    decodable: bytes  # the file, less its text chunks


def _frame_kind(marker: int) -> str:
    if marker in _HIERARCHICAL:
        return "hierarchical"
    if marker in _LOSSLESS:
        return "lossless"
    if marker in _PROGRESSIVE:
        return "progressive"
    return "baseline"


def _component_blocks(sof: bytes) -> dict[int, int]:
    """8x8 blocks per component id, from a start-of-frame segment's body."""
    height, width, count = int.from_bytes(sof[1:3]), int.from_bytes(sof[3:5]), sof[5]
    components = [
        (sof[6 + 3 * i], sof[7 + 3 * i] >> 4, sof[7 + 3 * i] & 15)
        for i in range(count)
        if len(sof) >= 9 + 3 * i
    ]
    if not components:
        return {}
    h_max = max(1, *(h for _, h, _ in components))
    v_max = max(1, *(v for _, _, v in components))
    blocks = {}
    for ident, h, v in components:
        columns = -(-width * h // h_max)
        rows = -(-height * v // v_max)
        blocks[ident] = -(-columns // 8) * -(-rows // 8)
    return blocks


def _segment_end(data: bytes, start: int) -> int:
    """Where the entropy-coded segment from ``start`` ends (its marker's fill bytes
    included), or -1 if it runs to the end of the data."""
    found = _MARKER_AFTER_FF.search(data, start)
    if found is None:
        return -1
    end = found.start()
    while end > start and data[end - 1] == 0xFF:
        end -= 1
    return end


def jpeg_facts(data: bytes, budget: JpegBudget) -> JpegFacts:
    """Walk a JPEG's markers as libjpeg does; refuse it (OverBudget) past the scan limit.

    Bytes the walk cannot follow (a truncated segment, no end marker) end it quietly:
    the decoder then reports the damage in its own words.
    """
    size = len(data)
    pos = 2  # after SOI
    junk: list[tuple[int, int]] = []
    precision, frame, scans, scan_blocks = 8, "", 0, 0
    blocks: dict[int, int] = {}
    in_header = True
    complete = False
    while pos < size:
        if data[pos] != 0xFF:
            # libjpeg skips to the next FF and warns; before the first scan it is harmless.
            following = data.find(b"\xff", pos)
            if following < 0:
                break
            if in_header:
                junk.append((pos, following))
            pos = following
            continue
        while pos + 1 < size and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 1 >= size:
            break
        marker = data[pos + 1]
        if marker == 0x00:  # a stuffed zero outside picture data: skipped with a warning
            if in_header:
                junk.append((pos, pos + 2))
            pos += 2
            continue
        if marker == 0xD9:  # EOI
            complete = scans > 0
            break
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # RSTn, SOI, TEM: no length
            pos += 2
            continue
        if pos + 4 > size:
            break
        length = int.from_bytes(data[pos + 2 : pos + 4])
        body = data[pos + 4 : pos + 2 + length]
        if length < 2 or len(body) < length - 2:
            break
        if marker in _SOF and len(body) >= 6:
            precision, frame = body[0], _frame_kind(marker)
            blocks = _component_blocks(body)
        elif marker == 0xDA:  # SOS: a scan, then its entropy-coded data
            in_header = False
            scans += 1
            if scans > budget.max_scans:
                raise OverBudget(
                    f"The JPEG has more than {budget.max_scans} scans (progressive passes), "
                    f"the limit. Save it again as a baseline JPEG, or with fewer scans."
                )
            count = body[0] if body else 0
            scan_blocks += sum(blocks.get(body[1 + 2 * i], 0) for i in range(count))
            end = _segment_end(data, pos + 2 + length)
            if end < 0:
                break
            pos = end
            continue
        pos += 2 + length
    # Several scans: libjpeg holds every coefficient of the image until the last one.
    held = sum(blocks.values()) * _COEFFICIENT_BYTES if scans > 1 else 0
    if junk:
        kept, start = [], 0
        for begin, end_ in junk:
            kept.append(data[start:begin])
            start = end_
        kept.append(data[start:])
        data = b"".join(kept)
    return JpegFacts(
        precision=precision,
        frame=frame,
        scans=scans,
        scan_blocks=scan_blocks,
        decode_bytes=held,
        complete=complete,
        decodable=data,
    )


_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
# Bands after the decoder expands palettes and transparency, by PNG colour type.
_PNG_BANDS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


def _inflated_size(compressed: bytes, cap: int) -> int:
    """Bytes ``compressed`` inflates to, counting no further than ``cap`` + 1."""
    inflater = zlib.decompressobj()
    try:
        return len(inflater.decompress(compressed, cap + 1))
    except zlib.error:
        return 0  # the decoder refuses it in its own words


def png_facts(data: bytes, budget: PngBudget) -> PngFacts:
    """Walk a PNG's chunks; refuse it (OverBudget) past the chunk limit."""
    size = len(data)
    pos = 8  # after the signature
    width = height = bit_depth = colour_type = 0
    interlaced = transparent = False
    dropped: list[tuple[int, int]] = []
    chunks = 0
    while pos + 8 <= size:
        length = int.from_bytes(data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > size:
            break
        chunks += 1
        if chunks > budget.max_chunks:
            raise OverBudget(
                f"The PNG has more than {budget.max_chunks} chunks, the limit. "
                f"Save it again with an image editor."
            )
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR" and length >= 13:
            width, height = int.from_bytes(body[0:4]), int.from_bytes(body[4:8])
            bit_depth, colour_type, interlaced = body[8], body[9], body[12] == 1
        elif kind in _TEXT_CHUNKS:
            dropped.append((pos, end))
        elif kind == b"tRNS":
            transparent = True
        elif kind == b"iCCP":
            # Inflated here no further than the budget; a profile over it is dropped
            # (the picture is then read as sRGB), as libvips drops one it cannot parse.
            name_end = body.find(b"\x00")
            if _inflated_size(body[name_end + 2 :], budget.max_metadata_bytes) > (
                budget.max_metadata_bytes
            ):
                dropped.append((pos, end))
        elif kind == b"IEND":
            break
        pos = end
    held = 0
    if interlaced:
        # An interlaced (Adam7) PNG is decoded whole into memory before any row is read.
        bands = _PNG_BANDS.get(colour_type, 4)
        if transparent and colour_type in (0, 2, 3):
            bands += 1  # tRNS becomes an alpha band
        held = width * height * bands * (2 if bit_depth == 16 else 1)
    if dropped:
        kept, start = [], 0
        for begin, end_ in dropped:
            kept.append(data[start:begin])
            start = end_
        kept.append(data[start:])
        data = b"".join(kept)
    return PngFacts(bit_depth=bit_depth, interlaced=interlaced, decode_bytes=held, decodable=data)
