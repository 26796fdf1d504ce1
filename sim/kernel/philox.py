"""Counter-based random numbers: Philox4x64-10 (Salmon et al. 2011), bit for bit numpy's
``numpy.random.Philox``, with normals, exponentials and uniforms that vectorise.

A variate is a pure function of (key, counter): key = (seed, stream), counter = (n // 4,
path, sub, 0) for the n-th 64-bit word of a path's stream (word n % 4 of that Philox
block). So a path's numbers depend on nothing but the seed, the stream and the path's
global index: not on threads, chunks, shards or machines, and no generator object is
carried around. A path's stream is numpy's ``Philox(key=[seed, stream],
counter=path * 2**64 - 1).random_raw()`` (numpy increments the counter before each block;
``tests/kernel/test_rng_philox.py`` checks it word for word).

Every block is independent of the others, so the row fillers (``normals``,
``exponentials``, ``uniforms``) are loops without a carried dependency: LLVM runs 4
counters in the lanes of an AVX2 register (8 with AVX-512). The 64 x 64 -> 128-bit
multiplications are done in 32-bit halves, which SIMD units have (a scalar ``mulx`` per
lane measured 1.6x slower than the vectorised halves).

Transforms, all branch-free so that the loops vectorise (a kernel that inlines them must be
compiled with ``error_model="numpy"``: Python's division-by-zero check stops vectorisation):

* uniform: the top 52 bits as a double in [1, 2) (exponent bits set, no int-to-float
  conversion), u = d - 1 + 2^-53, i.e. (2k + 1) 2^-53 for k in [0, 2^52): in (0, 1) and
  symmetric about 1/2;
* exponential: -log(u) with a branch-free log (fdlibm's ``__ieee754_log`` polynomial,
  under 1 ulp); at most 36.7;
* normal: Box-Muller on two words, sqrt(-2 log u0) (cos, sin)(2 pi u1), with fdlibm's sine
  and cosine kernels after an exact reduction to the nearest quarter turn; |z| <= 8.57.
  Wichura's AS241 inverse CDF was tried first: 1.9x the cost per normal (two rationals of
  degree 7 and a division for the body and the tail, both computed in every lane).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

U64 = np.uint64
M0 = U64(0xD2E7470EE14C6C93)  # Philox4x64 multipliers
M1 = U64(0xCA5A826395121157)
W0 = U64(0x9E3779B97F4A7C15)  # Weyl key increments
W1 = U64(0xBB67AE8584CAA73B)
LO32 = U64(0xFFFFFFFF)
S32 = U64(32)
S12 = U64(12)
ONE_BITS = U64(0x3FF0000000000000)  # exponent bits of 1.0
HALF_ULP = 2.0**-53


@intrinsic
def as_double(typingctx, x):
    """The 64 bits of an unsigned integer read as a double (a bitcast, no conversion)."""
    sig = types.float64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def as_bits(typingctx, x):
    """The 64 bits of a double as an unsigned integer."""
    sig = types.uint64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@njit(cache=True, inline="always")
def mulhilo(a, b):
    """(high, low) 64 bits of the 128-bit product a b from four 32 x 32 -> 64-bit products
    (what SIMD units multiply; the low half shares them)."""
    a0 = a & LO32
    a1 = a >> S32
    b0 = b & LO32
    b1 = b >> S32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    mid = (p00 >> S32) + (p01 & LO32) + (p10 & LO32)
    hi = a1 * b1 + (p01 >> S32) + (p10 >> S32) + (mid >> S32)
    lo = (mid << S32) | (p00 & LO32)
    return hi, lo


@njit(cache=True, inline="always")
def philox_round(c0, c1, c2, c3, k0, k1):
    h0, l0 = mulhilo(M0, c0)
    h1, l1 = mulhilo(M1, c2)
    return h1 ^ c1 ^ k0, l1, h0 ^ c3 ^ k1, l0


@njit(cache=True, inline="always")
def philox4x64(c0, c1, c2, c3, k0, k1):
    """The Philox4x64-10 bijection of counter (c0..c3) under key (k0, k1): four words."""
    c0, c1, c2, c3 = philox_round(c0, c1, c2, c3, k0, k1)
    k0 += W0
    k1 += W1
    c0, c1, c2, c3 = philox_round(c0, c1, c2, c3, k0, k1)
    k0 += W0
    k1 += W1
    c0, c1, c2, c3 = philox_round(c0, c1, c2, c3, k0, k1)
    k0 += W0
    k1 += W1
    c0, c1, c2, c3 = philox_round(c0, c1, c2, c3, k0, k1)
    k0 += W0
    k1 += W1
    c0, c1, c2, c3 = philox_round(c0, c1, c2, c3, k0, k1)
    k0 += W0
    k1 += W1
    c0, c1, c2, c3 = philox_round(c0, c1, c2, c3, k0, k1)
    k0 += W0
    k1 += W1
    c0, c1, c2, c3 = philox_round(c0, c1, c2, c3, k0, k1)
    k0 += W0
    k1 += W1
    c0, c1, c2, c3 = philox_round(c0, c1, c2, c3, k0, k1)
    k0 += W0
    k1 += W1
    c0, c1, c2, c3 = philox_round(c0, c1, c2, c3, k0, k1)
    k0 += W0
    k1 += W1
    return philox_round(c0, c1, c2, c3, k0, k1)


@njit(cache=True, inline="always")
def block(seed, stream, path, sub, n):
    """The four words of block n of (seed, stream), path, sub-stream."""
    return philox4x64(U64(n), U64(path), U64(sub), U64(0), U64(seed), U64(stream))


@njit(cache=True, inline="always")
def unit_d(x):
    """The top 52 bits of x as a double in [1, 2)."""
    return as_double((x >> S12) | ONE_BITS)


@njit(cache=True, inline="always")
def uniform(x):
    """u = (2k + 1) 2^-53 in (0, 1), k the top 52 bits of x."""
    return (unit_d(x) - 1.0) + HALF_ULP


# fdlibm __ieee754_log (as in musl): log(x) = k ln2 + log(1 + f), 1 + f in [sqrt(2)/2, sqrt(2))
LG1 = 6.666666666666735130e-01
LG2 = 3.999999999940941908e-01
LG3 = 2.857142874366239149e-01
LG4 = 2.222219843214978396e-01
LG5 = 1.818357216161805012e-01
LG6 = 1.531383769920937332e-01
LG7 = 1.479819860511658591e-01
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
SQRT_HALF_BITS = U64(0x3FE6A09E667F3BCD)  # bits of sqrt(2)/2
EXP_SHIFT = U64(0x3FF0000000000000 - 0x3FE6A09E667F3BCD)
MANT = U64(0x000FFFFFFFFFFFFF)
K_MAGIC = 6755399441055744.0  # 2^52 + 2^51: small integers as doubles without a conversion
K_MAGIC_BITS = U64(0x4338000000000000)
S52 = U64(52)
K_BIAS = U64(0x3FF)


@njit(cache=True, inline="always")
def log_pos(x):
    """log(x) for a normal positive double, branch-free (fdlibm's polynomial, < 1 ulp)."""
    hx = as_bits(x) + EXP_SHIFT
    k = as_double(K_MAGIC_BITS + (hx >> S52) - K_BIAS) - K_MAGIC  # exponent as a double
    f = as_double((hx & MANT) + SQRT_HALF_BITS) - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    r = t2 + t1
    return s * (hfsq + r) + k * LN2_LO - hfsq + f + k * LN2_HI


@njit(cache=True, inline="always")
def exponential(x):
    """An Exp(1) variate from the word x: -log(u)."""
    return -log_pos(uniform(x))


@njit(cache=True, inline="always")
def exponentials(seed, stream, path, sub, out, first, n):
    """out[first + j] = the Exp(1) variate of word j (j < n) of the path's stream (3 spare slots)."""
    for c in range((n + 3) // 4):
        x0, x1, x2, x3 = block(seed, stream, path, sub, c)
        i = first + 4 * c
        out[i] = exponential(x0)
        out[i + 1] = exponential(x1)
        out[i + 2] = exponential(x2)
        out[i + 3] = exponential(x3)


@njit(cache=True, inline="always")
def uniforms(seed, stream, path, sub, out, first, n):
    """out[first + j] = the uniform in (0, 1) of word j (j < n) of the path's stream (3 spare slots)."""
    for c in range((n + 3) // 4):
        x0, x1, x2, x3 = block(seed, stream, path, sub, c)
        i = first + 4 * c
        out[i] = uniform(x0)
        out[i + 1] = uniform(x1)
        out[i + 2] = uniform(x2)
        out[i + 3] = uniform(x3)


@njit(cache=True)
def raw_words(seed, stream, path, sub, n):
    """The first n words of a path's stream (for tests against numpy.random.Philox)."""
    out = np.empty(4 * ((n + 3) // 4), dtype=np.uint64)
    for c in range((n + 3) // 4):
        w = block(seed, stream, path, sub, c)
        for k in range(4):
            out[4 * c + k] = w[k]
    return out[:n]


# fdlibm __kernel_sin / __kernel_cos on [-pi/4, pi/4] (< 1 ulp)
S1 = -1.66666666666666324348e-01
S2 = 8.33333333332248946124e-03
S3 = -1.98412698298579493134e-04
S4 = 2.75573137070700676789e-06
S5 = -2.50507602534068634195e-08
S6 = 1.58969099521155010221e-10
C1 = 4.16666666666666019037e-02
C2 = -1.38888888888741095749e-03
C3 = 2.48015872894767294178e-05
C4 = -2.75573143513906633035e-07
C5 = 2.08757232129817482790e-09
C6 = -1.13596475577881948265e-11
HALF_PI = 1.5707963267948966
THREE = U64(3)
ONE = U64(1)
TWO = U64(2)


@njit(cache=True, inline="always")
def sincos_turn(x):
    """(cos 2 pi u, sin 2 pi u) for u = uniform(x), branch-free: the nearest quarter turn j
    and the rest t = 4u - j in [-1/2, 1/2] are exact, then fdlibm's kernels at (pi/2) t."""
    u4 = 4.0 * uniform(x)
    big = u4 + K_MAGIC  # rounds 4u to the nearest integer j
    j = as_bits(big) & THREE
    phi = (u4 - (big - K_MAGIC)) * HALF_PI
    z = phi * phi
    sn = phi + (z * phi) * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))))
    w2 = z * z
    r = z * (C1 + z * (C2 + z * C3)) + w2 * w2 * (C4 + z * (C5 + z * C6))
    hz = 0.5 * z
    w = 1.0 - hz
    cs = w + (((1.0 - w) - hz) + z * r)
    odd = (j & ONE) == ONE
    c = sn if odd else cs
    s = cs if odd else sn
    c = -c if (j == ONE or j == TWO) else c
    s = -s if j >= TWO else s
    return c, s


@njit(cache=True, inline="always")
def normal_pair(x0, x1):
    """Two independent standard normals from two words (Box-Muller): radius
    sqrt(-2 log u0) (at most 8.57), angle 2 pi u1."""
    rad = math.sqrt(-2.0 * log_pos(uniform(x0)))
    c, s = sincos_turn(x1)
    return rad * c, rad * s


@njit(cache=True, inline="always")
def normals(seed, stream, path, sub, out, first, n):
    """out[first + j] = normal j (j < n) of the path's stream: words 2i and 2i + 1 make
    normals 2i and 2i + 1 (Box-Muller); the row needs 3 spare slots after first + n."""
    for c in range((n + 3) // 4):
        x0, x1, x2, x3 = block(seed, stream, path, sub, c)
        z0, z1 = normal_pair(x0, x1)
        z2, z3 = normal_pair(x2, x3)
        i = first + 4 * c
        out[i] = z0
        out[i + 1] = z1
        out[i + 2] = z2
        out[i + 3] = z3


@njit(cache=True, error_model="numpy")
def fill_normals(seed, stream, path, sub, n):
    """n normals of a path's stream as an array (tests, the RNG floor)."""
    out = np.empty(n + 4)
    normals(seed, stream, path, sub, out, 0, n)
    return out[:n]


@njit(cache=True, error_model="numpy")
def fill_exponentials(seed, stream, path, sub, n):
    out = np.empty(n + 4)
    exponentials(seed, stream, path, sub, out, 0, n)
    return out[:n]


# The row fillers as functions of their own (not inlined): the kernel and the RNG floor call
# them once per row, so the ten unrolled Philox rounds are compiled once per filler rather
# than at every call site (the cold compile of the kernel), at no measurable cost per row.
# Same flags as the kernel (FMA contraction, numpy's error model): the same bits as inlined.
@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def normals_row(seed, stream, path, sub, out, first, n):
    normals(seed, stream, path, sub, out, first, n)


@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def exponentials_row(seed, stream, path, sub, out, first, n):
    exponentials(seed, stream, path, sub, out, first, n)


@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def uniforms_row(seed, stream, path, sub, out, first, n):
    uniforms(seed, stream, path, sub, out, first, n)
