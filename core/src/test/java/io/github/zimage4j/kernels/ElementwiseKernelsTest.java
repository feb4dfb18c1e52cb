package io.github.zimage4j.kernels;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Norms, RoPE and activations against straightforward float64 formulas. */
class ElementwiseKernelsTest {

    private static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian() * 2;
        }
        return x;
    }

    @Test
    void rmsNormWithWeightAndScale() {
        int rows = 300;
        int dim = 77;
        float[] x = random(rows * dim, 1);
        float[] w = random(dim, 2);
        float[] s = random(dim, 3);
        float[] out = new float[rows * dim];
        Norms.rmsNorm(x, 0, rows, dim, w, 1e-5f, s, out, 0);
        for (int r = 0; r < rows; r++) {
            double ms = 0;
            for (int i = 0; i < dim; i++) {
                ms += (double) x[r * dim + i] * x[r * dim + i];
            }
            double inv = 1 / Math.sqrt(ms / dim + 1e-5);
            for (int i = 0; i < dim; i++) {
                assertEquals(x[r * dim + i] * inv * w[i] * s[i], out[r * dim + i], 1e-5 * (1 + Math.abs(out[r * dim + i])));
            }
        }
    }

    @Test
    void gatedResidualAndLayerNorm() {
        int rows = 40;
        int dim = 50;
        float[] x = random(rows * dim, 4);
        float[] x0 = x.clone();
        float[] y = random(rows * dim, 5);
        float[] w = random(dim, 6);
        float[] g = random(dim, 7);
        Norms.addRmsNormed(x, 0, y, 0, rows, dim, w, 1e-6f, g);
        float[] ln = new float[rows * dim];
        Norms.layerNorm(y, 0, rows, dim, 1e-6f, g, ln, 0);
        for (int r = 0; r < rows; r++) {
            double ms = 0;
            double mean = 0;
            for (int i = 0; i < dim; i++) {
                ms += (double) y[r * dim + i] * y[r * dim + i];
                mean += y[r * dim + i];
            }
            mean /= dim;
            double var = 0;
            for (int i = 0; i < dim; i++) {
                var += (y[r * dim + i] - mean) * (y[r * dim + i] - mean);
            }
            var /= dim;
            double inv = 1 / Math.sqrt(ms / dim + 1e-6);
            for (int i = 0; i < dim; i++) {
                double expect = x0[r * dim + i] + g[i] * y[r * dim + i] * inv * w[i];
                assertEquals(expect, x[r * dim + i], 1e-5 * (1 + Math.abs(expect)));
                double lnExpect = (y[r * dim + i] - mean) / Math.sqrt(var + 1e-6) * g[i];
                assertEquals(lnExpect, ln[r * dim + i], 1e-5 * (1 + Math.abs(lnExpect)));
            }
        }
    }

    @Test
    void ropeConventions() {
        int rows = 3;
        int heads = 2;
        int hd = 8;
        int stride = heads * hd + 5;
        float[] x = random(rows * stride, 8);
        float[] a = x.clone();
        float[] b = x.clone();
        float[] cos = new float[rows * hd / 2];
        float[] sin = new float[rows * hd / 2];
        for (int i = 0; i < cos.length; i++) {
            cos[i] = (float) Math.cos(0.3 * i + 0.1);
            sin[i] = (float) Math.sin(0.3 * i + 0.1);
        }
        Rope.interleaved(a, 0, rows, stride, heads, hd, cos, sin, 0);
        Rope.rotateHalf(b, 0, rows, stride, heads, hd, cos, sin, 0);
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                int base = r * stride + h * hd;
                for (int i = 0; i < hd / 2; i++) {
                    double c = cos[r * hd / 2 + i];
                    double s = sin[r * hd / 2 + i];
                    // Interleaved: (x0 + i x1)·(c + i s).
                    assertEquals(x[base + 2 * i] * c - x[base + 2 * i + 1] * s, a[base + 2 * i], 1e-5);
                    assertEquals(x[base + 2 * i] * s + x[base + 2 * i + 1] * c, a[base + 2 * i + 1], 1e-5);
                    // Rotate-half: x·cos + [-x2, x1]·sin.
                    assertEquals(x[base + i] * c - x[base + hd / 2 + i] * s, b[base + i], 1e-5);
                    assertEquals(x[base + hd / 2 + i] * c + x[base + i] * s, b[base + hd / 2 + i], 1e-5);
                }
            }
            for (int pad = heads * hd; pad < stride; pad++) {
                assertEquals(x[r * stride + pad], a[r * stride + pad], "columns past the heads are untouched");
            }
        }
    }

    @Test
    void siluAndSwiglu() {
        int n = 100_003;
        float[] a = random(n, 9);
        float[] b = random(n, 10);
        float[] s = a.clone();
        float[] g = a.clone();
        Activations.silu(s, 0, n);
        Activations.swiglu(g, 0, b, 0, n);
        for (int i = 0; i < n; i++) {
            double silu = a[i] / (1 + Math.exp(-a[i]));
            assertEquals(silu, s[i], 1e-6 * (1 + Math.abs(silu)));
            assertEquals(silu * b[i], g[i], 1e-5 * (1 + Math.abs(silu * b[i])));
        }
    }
}
