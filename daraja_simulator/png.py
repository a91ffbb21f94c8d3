"""A minimal PNG encoder (standard library only: zlib and struct) and the simulator's QR-like picture.

The picture is NOT a QR code: it has the three finder squares of one and a pattern of modules derived
from a hash of what the QR stands for, so that two QRs look different, but no phone can read it. What
matters for the simulator is the shape of Daraja's answer: a base64 PNG that a browser displays.
"""

import hashlib
import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MODULES = 25  # a version-2 QR has 25 x 25 modules
QUIET = 4  # modules of white border on each side (the QR standard's quiet zone)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_grayscale(width: int, height: int, rows: list[bytes]) -> bytes:
    """A PNG of 8-bit grayscale pixels: `rows` is `height` rows of `width` bytes (0 black, 255 white)."""
    if width < 1 or height < 1 or len(rows) != height or any(len(row) != width for row in rows):
        raise ValueError("rows must be height rows of width bytes")
    raw = b"".join(b"\x00" + bytes(row) for row in rows)  # filter type 0 (None) on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8 bits, grayscale, no interlace
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def _finder(grid: list[list[bool]], top: int, left: int) -> None:
    for r in range(-1, 8):
        for c in range(-1, 8):
            y, x = top + r, left + c
            if not (0 <= y < MODULES and 0 <= x < MODULES):
                continue
            ring = max(abs(r - 3), abs(c - 3))  # 0..3 inside the 7x7 square, 4 on the separator
            grid[y][x] = ring in (0, 1, 3)


def qr_like_modules(seed: str) -> list[list[bool]]:
    """MODULES x MODULES dark (True) or light modules: finder squares, timing lines, hashed data."""
    stream = b""
    counter = 0
    while len(stream) * 8 < MODULES * MODULES:
        stream += hashlib.sha256(f"{counter}:{seed}".encode()).digest()
        counter += 1
    bits = [(stream[i // 8] >> (i % 8)) & 1 for i in range(MODULES * MODULES)]
    grid = [[bool(bits[y * MODULES + x]) for x in range(MODULES)] for y in range(MODULES)]
    for i in range(8, MODULES - 8):  # timing patterns
        grid[6][i] = grid[i][6] = i % 2 == 0
    for top, left in ((0, 0), (0, MODULES - 7), (MODULES - 7, 0)):
        _finder(grid, top, left)
    return grid


def qr_like_png(seed: str, size: int) -> bytes:
    """A size x size grayscale PNG of qr_like_modules(seed) with its quiet zone (modules scaled to fit)."""
    total = MODULES + 2 * QUIET
    grid = qr_like_modules(seed)
    rows = []
    for y in range(size):
        my = y * total // size - QUIET
        row = bytearray(b"\xff" * size)
        if 0 <= my < MODULES:
            for x in range(size):
                mx = x * total // size - QUIET
                if 0 <= mx < MODULES and grid[my][mx]:
                    row[x] = 0
        rows.append(bytes(row))
    return encode_grayscale(size, size, rows)
