package io.github.zimage4j.pipeline;

import io.github.zimage4j.dit.ZImageTransformer;
import io.github.zimage4j.scheduler.Schedule;
import io.github.zimage4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;

/**
 * The flow-matching sampling loop: at each step the transformer predicts {@code x0 − noise} for every
 * image (and, with guidance, for its negative prompt in the same batch), guidance mixes the two, the
 * result is negated into the velocity the Euler step expects, and the scheduler moves the latents from
 * σ_i to σ_{i+1}.
 */
public final class Denoiser {

    private Denoiser() {
    }

    /** What one finished step produced; {@code transformerOut} lists cond outputs, then uncond ones. */
    public record Step(int index, int total, float sigma, float sigmaNext, float modelTime, boolean guided,
                       List<Tensor> transformerOut, List<float[]> noisePred, List<float[]> latents, double seconds) {
    }

    /**
     * Changes the latents of one image after the scheduler step that ended at schedule index
     * {@code sigmaIndex} (inpainting blends the known region back in here).
     */
    @FunctionalInterface
    public interface LatentHook {
        void afterStep(int image, int sigmaIndex, float[] latents);
    }

    /**
     * What a mode adds to the plain loop: a per-step latent hook and, per transformer call, residuals for
     * its layers (a ControlNet); either may be null.
     */
    public record Hooks(LatentHook latents, java.util.function.Supplier<ZImageTransformer.ResidualHook> residuals) {
        public static final Hooks NONE = new Hooks(null, null);
    }

    /** Called after every step (progress bars, previews, parity checks). */
    @FunctionalInterface
    public interface StepListener {
        void onStep(Step step);
    }

    /**
     * @param positive  caption features per image
     * @param negative  negative caption features per image (used only when guidance is enabled)
     * @param latents   initial latents per image, [C, 1, H, W]; not modified
     * @param firstStep the schedule index to start at (0 for text-to-image, later for image-to-image)
     * @param hooks     what the mode adds to each step ({@link Hooks#NONE} for text to image)
     * @param cancelled polled before every step; true stops with a {@link CancellationException}
     * @return the final latents per image
     */
    public static List<Tensor> run(ZImageTransformer transformer, Schedule schedule, int firstStep,
                                   List<Tensor> positive, List<Tensor> negative, List<Tensor> latents,
                                   Guidance guidance, Hooks hooks, StepListener listener, BooleanSupplier cancelled) {
        int n = latents.size();
        if (positive.size() != n || (guidance.enabled() && negative.size() != n)) {
            throw new IllegalArgumentException(n + " latents need as many prompt (and negative prompt) embeddings");
        }
        List<Tensor> current = new ArrayList<>(n);
        for (Tensor t : latents) {
            current.add(t.copy());
        }
        int total = schedule.numSteps() - firstStep;
        for (int i = firstStep; i < schedule.numSteps(); i++) {
            if (cancelled.getAsBoolean() || Thread.currentThread().isInterrupted()) {
                throw new CancellationException("cancelled before step " + (i - firstStep + 1) + " of " + total);
            }
            long t0 = System.nanoTime();
            float t = schedule.modelTimestep(i);
            boolean guided = guidance.enabled() && !schedule.guidanceTruncated(i, guidance.truncation());
            List<ZImageTransformer.Input> inputs = new ArrayList<>(guided ? 2 * n : n);
            for (int b = 0; b < n; b++) {
                inputs.add(new ZImageTransformer.Input(current.get(b), positive.get(b), t));
            }
            if (guided) {
                for (int b = 0; b < n; b++) {
                    inputs.add(new ZImageTransformer.Input(current.get(b), negative.get(b), t));
                }
            }
            List<Tensor> out = transformer.forward(inputs, null, hooks.residuals() == null ? null : hooks.residuals().get());
            List<float[]> noisePred = new ArrayList<>(n);
            List<float[]> next = new ArrayList<>(n);
            for (int b = 0; b < n; b++) {
                float[] pos = out.get(b).data();
                float[] pred = new float[pos.length];
                if (guided) {
                    guidance.combine(pos, out.get(n + b).data(), pred);
                } else {
                    System.arraycopy(pos, 0, pred, 0, pos.length);
                }
                for (int j = 0; j < pred.length; j++) {
                    pred[j] = -pred[j];
                }
                float[] lat = current.get(b).data();
                schedule.step(i, lat, pred, lat);
                if (hooks.latents() != null) {
                    hooks.latents().afterStep(b, i + 1, lat);
                }
                noisePred.add(pred);
                next.add(lat);
            }
            if (listener != null) {
                listener.onStep(new Step(i - firstStep, total, schedule.sigma(i), schedule.sigma(i + 1), t, guided,
                        out, noisePred, next, (System.nanoTime() - t0) / 1e9));
            }
        }
        return current;
    }
}
