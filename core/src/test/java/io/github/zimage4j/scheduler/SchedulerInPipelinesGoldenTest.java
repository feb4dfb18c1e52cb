package io.github.zimage4j.scheduler;

import io.github.zimage4j.io.JsonConfig;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static io.github.zimage4j.scheduler.SchedulerGoldenTest.floats;
import static io.github.zimage4j.scheduler.SchedulerGoldenTest.list;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The scheduler as the recorded pipelines used it (pipeline/, img2img/, inpaint/, controlnet/case-pipe-*):
 * from each case's scheduler config and call arguments, the per-step sigmas, timesteps, transformer t and
 * CFG on/off must equal {@code meta.steps}, the strength rule must give the recorded start, and every
 * recorded latent must be the Euler step (and, for image-to-image, the noising) of the recorded inputs, bit
 * for bit.
 */
class SchedulerInPipelinesGoldenTest {

    @TestFactory
    Stream<DynamicTest> recordedLoops() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String section : List.of("pipeline", "img2img", "inpaint", "controlnet")) {
            for (Path dir : Golden.cases(section)) {
                if (!dir.resolve("outputs.safetensors").toFile().isFile() || !Golden.meta(dir).containsKey("steps")) {
                    continue; // component folders and single-forward ControlNet cases have no loop
                }
                tests.add(DynamicTest.dynamicTest(section + "/" + dir.getFileName(), () -> checkLoop(dir)));
            }
        }
        return Golden.atLeastOne(tests, "pipeline case with a denoising loop").stream();
    }

    @SuppressWarnings("unchecked")
    private static void checkLoop(Path dir) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        SchedulerConfig config = SchedulerConfig.from(new JsonConfig(dir + "/meta.json scheduler_config",
                (Map<String, Object>) meta.get("scheduler_config")));
        Map<String, Object> call = (Map<String, Object>) meta.get("call_args");
        List<?> shape = (List<?>) meta.get("latent_shape");
        int latentH = ((Number) shape.get(2)).intValue();
        int latentW = ((Number) shape.get(3)).intValue();
        int n = ((Number) call.get("num_inference_steps")).intValue();
        double guidance = ((Number) call.get("guidance_scale")).doubleValue();
        double cfgTruncation = call.get("cfg_truncation") instanceof Number t ? t.doubleValue() : 1.0;

        Schedule s = new FlowMatchEulerScheduler(config).zImageSchedule(n, SchedulerConfig.imageSeqLen(latentH, latentW));

        boolean imageToImage = call.containsKey("strength");
        int start = 0;
        if (imageToImage) {
            Map<String, Object> strength = (Map<String, Object>) meta.get("strength_schedule");
            start = s.startIndexForStrength(((Number) call.get("strength")).doubleValue());
            assertEquals(((Number) strength.get("t_start")).intValue(), start, "t_start");
            assertEquals(((Number) strength.get("sigma_start")).floatValue(), s.sigma(start), 0f, "sigma_start");
            Compare.allClose("all_sigmas", floats(strength.get("all_sigmas")), s.sigmas(), 0, 0);
            Compare.allClose("all_timesteps", floats(strength.get("all_timesteps")), s.timesteps(), 0, 0);
        }

        List<?> steps = list(meta, "steps");
        assertEquals(n - start, steps.size(), "steps run");
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            float[] latents;
            if (imageToImage) {
                float[] noise = Golden.tensor(in, "noise").data();
                float[] init = new float[noise.length];
                s.scaleNoise(start, Golden.tensor(out, "image_latents").data(), noise, init);
                Compare.allClose("latents_init", Golden.tensor(out, "latents_init").data(), init, 0, 0);
                latents = init;
            } else {
                latents = Golden.tensor(in, "latents_init").data();
            }
            for (int i = 0; i < steps.size(); i++) {
                Map<String, Object> rec = (Map<String, Object>) steps.get(i);
                int idx = start + i;
                String at = "step " + i + ": ";
                if (rec.containsKey("sigma_index")) {
                    assertEquals(idx, ((Number) rec.get("sigma_index")).intValue(), at + "sigma_index");
                }
                assertEquals(((Number) rec.get("scheduler_timestep")).floatValue(), s.timestep(idx), 0f, at + "timestep");
                assertEquals(((Number) rec.get("sigma")).floatValue(), s.sigma(idx), 0f, at + "sigma");
                assertEquals(((Number) rec.get("sigma_next")).floatValue(), s.sigma(idx + 1), 0f, at + "sigma_next");
                for (float t : floats(rec.get("transformer_t"))) {
                    assertEquals(t, s.modelTimestep(idx), 0f, at + "transformer t");
                }
                boolean cfg = guidance > 0 && !s.guidanceTruncated(idx, cfgTruncation);
                assertEquals(rec.get("cfg_applied"), cfg, at + "cfg_applied");

                float[] noisePred = Golden.tensor(out, "step." + i + ".noise_pred").data();
                float[] next = new float[latents.length];
                s.step(idx, latents, noisePred, next);
                boolean blended = out.find("step." + i + ".latents_denoised") != null;
                String denoised = blended ? "step." + i + ".latents_denoised" : "step." + i + ".latents";
                Compare.allClose(denoised, Golden.tensor(out, denoised).data(), next, 0, 0);
                if (blended) {
                    // Inpainting re-noises the clean image to the next sigma (the clean latents at the end).
                    float[] renoised = new float[latents.length];
                    s.scaleNoise(idx + 1, Golden.tensor(out, "image_latents").data(), Golden.tensor(in, "noise").data(), renoised);
                    Compare.allClose("step." + i + ".init_latents_proper",
                            Golden.tensor(out, "step." + i + ".init_latents_proper").data(), renoised, 0, 0);
                }
                latents = Golden.tensor(out, "step." + i + ".latents").data();
            }
        }
    }
}
