// 2-D convolution on channels-last activations as im2col + a cuBLASLt GEMM (the weight [Cout, Cin, kh, kw]
// is already the GEMM's [Cout, K] matrix with K = Cin·kh·kw in (channel, tap) order). The gather reads
// the input through the Conv2d.Geometry: nearest upsampling by `up` (pixel (y/up, x/up)), zero padding,
// stride; the upsampled image is never built. Output pixels m0 .. m0+count, so the host can bound the
// column buffer by converting a band of pixels at a time.
#include "common.cuh"

template <typename T>
__device__ __forceinline__ T store_as(float v);
template <>
__device__ __forceinline__ float store_as<float>(float v) { return v; }
template <>
__device__ __forceinline__ bf16_t store_as<bf16_t>(float v) { return f32_to_bf16(v); }

template <typename T>
__device__ void im2col(const float* x, int height, int width, int cin, int kh, int kw, int up, int stride,
                       int padTop, int padLeft, int ow, long long m0, int count, T* col) {
    int taps = kh * kw;
    long long k = (long long) cin * taps;
    int inH = height * up;
    int inW = width * up;
    long long total = (long long) count * cin;
    for (long long idx = (long long) blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long) gridDim.x * blockDim.x) {
        int c = (int) (idx % cin);
        long long i = idx / cin;
        long long pix = m0 + i;
        int oy = (int) (pix / ow);
        int ox = (int) (pix % ow);
        int y0 = oy * stride - padTop;
        int x0 = ox * stride - padLeft;
        T* dst = col + i * k + (long long) c * taps;
        for (int ky = 0; ky < kh; ky++) {
            int iy = y0 + ky;
            bool rowInside = iy >= 0 && iy < inH;
            for (int kx = 0; kx < kw; kx++) {
                int ix = x0 + kx;
                float v = 0.0f;
                if (rowInside && ix >= 0 && ix < inW) {
                    v = x[((long long) (iy / up) * width + ix / up) * cin + c];
                }
                dst[ky * kw + kx] = store_as<T>(v);
            }
        }
    }
}

extern "C" __global__ void im2col_f32(const float* x, int height, int width, int cin, int kh, int kw, int up,
                                      int stride, int padTop, int padLeft, int ow, long long m0, int count, float* col) {
    im2col<float>(x, height, width, cin, kh, kw, up, stride, padTop, padLeft, ow, m0, count, col);
}

extern "C" __global__ void im2col_bf16(const float* x, int height, int width, int cin, int kh, int kw, int up,
                                       int stride, int padTop, int padLeft, int ow, long long m0, int count, bf16_t* col) {
    im2col<bf16_t>(x, height, width, cin, kh, kw, up, stride, padTop, padLeft, ow, m0, count, col);
}
