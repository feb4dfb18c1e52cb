// Shared helpers of the zimage4j kernels. No CUDA headers: NVRTC compiles these without an include path.
// Arithmetic that must equal the Java kernels bit for bit uses the explicit round-to-nearest intrinsics
// (__fmul_rn, __fadd_rn, …), which the compiler never contracts into FMAs; fused steps use __fmaf_rn where
// Java's Vector API fuses (FloatVector.fma).
#pragma once

typedef unsigned short bf16_t;  // bfloat16 bits: the upper half of a float32

__device__ __forceinline__ float bf16_to_f32(bf16_t b) {
    return __uint_as_float(((unsigned) b) << 16);
}

// Round to nearest even, NaN kept quiet: FloatFormats.floatToBf16.
__device__ __forceinline__ bf16_t f32_to_bf16(float f) {
    unsigned x = __float_as_uint(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) {
        return (bf16_t) ((x >> 16) | 0x0040u);
    }
    unsigned rounding = 0x7FFFu + ((x >> 16) & 1u);
    return (bf16_t) ((x + rounding) >> 16);
}

// Two floats as a bf16x2 register: lo in the low half (the lower column of an mma fragment).
__device__ __forceinline__ unsigned pack_bf16x2(float lo, float hi) {
    return (unsigned) f32_to_bf16(lo) | ((unsigned) f32_to_bf16(hi) << 16);
}

// Exp.exp of the Java kernels (Cephes expf), step for step: the same bits for the same input.
__device__ __forceinline__ float zi_exp(float x) {
    const float LOG2E = 1.44269504088896341f;
    const float LN2_HI = 0.693359375f;
    const float LN2_LO = -2.12194440e-4f;
    const float ROUNDER = 12582912.0f;
    const float MAX_ARG = 88.7228391f;
    const float MIN_ARG = -87.3365448f;
    if (x != x) {
        return x;
    }
    if (x < MIN_ARG) {
        return 0.0f;
    }
    if (x > MAX_ARG) {
        return __int_as_float(0x7F800000);
    }
    float n = __fsub_rn(__fadd_rn(__fmul_rn(x, LOG2E), ROUNDER), ROUNDER);
    float r = __fsub_rn(__fsub_rn(x, __fmul_rn(n, LN2_HI)), __fmul_rn(n, LN2_LO));
    float p = 1.9875691500E-4f;
    p = __fadd_rn(__fmul_rn(p, r), 1.3981999507E-3f);
    p = __fadd_rn(__fmul_rn(p, r), 8.3334519073E-3f);
    p = __fadd_rn(__fmul_rn(p, r), 4.1665795894E-2f);
    p = __fadd_rn(__fmul_rn(p, r), 1.6666665459E-1f);
    p = __fadd_rn(__fmul_rn(p, r), 5.0000001201E-1f);
    float e = __fadd_rn(__fadd_rn(__fmul_rn(p, __fmul_rn(r, r)), r), 1.0f);
    int ni = (int) n;
    int a = ni >> 1;
    int b = ni - a;
    return __fmul_rn(__fmul_rn(e, __int_as_float((a + 127) << 23)), __int_as_float((b + 127) << 23));
}

// Exp.silu: x / (e^-x + 1).
__device__ __forceinline__ float zi_silu(float x) {
    return __fdiv_rn(x, __fadd_rn(zi_exp(-x), 1.0f));
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    }
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float partial[32];
    __shared__ float total;
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // partial[] may still be read by a previous call
    if (lane == 0) {
        partial[warp] = v;
    }
    __syncthreads();
    if (warp == 0) {
        int warps = blockDim.x >> 5;
        float s = lane < warps ? partial[lane] : 0.0f;
        s = warp_sum(s);
        if (lane == 0) {
            total = s;
        }
    }
    __syncthreads();
    return total;
}

// 1 / sqrt(v) as the Java kernels compute it: in double, rounded once to float.
__device__ __forceinline__ float inv_sqrt_like_java(float v) {
    return (float) (1.0 / sqrt((double) v));
}
