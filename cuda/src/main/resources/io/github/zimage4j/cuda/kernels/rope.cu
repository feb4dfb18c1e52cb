// Rotary position embeddings in place (Rope), one thread per rotated pair. Rows of heads × headDim start
// every `stride` floats; angle tables are per row: cos[(tableRow0 + r) · pairs + i]. Same products and
// order as the Java kernels, so the same bits.
#include "common.cuh"

// Pairs (x[2i], x[2i+1]) as complex numbers: the S3-DiT form.
extern "C" __global__ void rope_interleaved_f32(float* x, int rows, int stride, int heads, int headDim,
                                                const float* cosT, const float* sinT, int tableRow0) {
    int pairs = headDim / 2;
    long long total = (long long) rows * heads * pairs;
    for (long long idx = (long long) blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long) gridDim.x * blockDim.x) {
        int i = (int) (idx % pairs);
        long long rh = idx / pairs;
        int h = (int) (rh % heads);
        long long r = rh / heads;
        float* p = x + r * stride + (long long) h * headDim + 2 * i;
        long long t = (tableRow0 + r) * pairs + i;
        float c = cosT[t];
        float s = sinT[t];
        float re = p[0];
        float im = p[1];
        p[0] = __fsub_rn(__fmul_rn(re, c), __fmul_rn(im, s));
        p[1] = __fadd_rn(__fmul_rn(re, s), __fmul_rn(im, c));
    }
}

// Halves (x[i], x[i + d/2]): x·cos + rotate_half(x)·sin, the Qwen/NeoX form.
extern "C" __global__ void rope_rotate_half_f32(float* x, int rows, int stride, int heads, int headDim,
                                                const float* cosT, const float* sinT, int tableRow0) {
    int half = headDim / 2;
    long long total = (long long) rows * heads * half;
    for (long long idx = (long long) blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long) gridDim.x * blockDim.x) {
        int i = (int) (idx % half);
        long long rh = idx / half;
        int h = (int) (rh % heads);
        long long r = rh / heads;
        float* p = x + r * stride + (long long) h * headDim;
        long long t = (tableRow0 + r) * half + i;
        float c = cosT[t];
        float s = sinT[t];
        float a = p[i];
        float b = p[half + i];
        p[i] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
        p[half + i] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
    }
}
