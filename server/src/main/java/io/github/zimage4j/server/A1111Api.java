package io.github.zimage4j.server;

import com.sun.net.httpserver.HttpExchange;
import io.github.zimage4j.io.Json;
import io.github.zimage4j.pipeline.Variant;

import java.io.IOException;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Automatic1111 web UI API subset that client tools call: {@code POST /sdapi/v1/txt2img},
 * {@code GET /sdapi/v1/progress}, {@code POST /sdapi/v1/interrupt}, {@code GET /sdapi/v1/sd-models}.
 * {@code cfg_scale} keeps its A1111 meaning w ({@code neg + w·(pos − neg)}), which is Z-Image's guidance
 * g = w − 1. A1111's many other fields (sampler, hires fix, scripts, …) are accepted and ignored; the
 * sampler is always Euler (flow matching), as the returned info says.
 */
final class A1111Api {

    private final ZImageServer server;

    A1111Api(ZImageServer server) {
        this.server = server;
    }

    void txt2img(HttpExchange ex) throws IOException {
        Http.requireMethod(ex, "POST");
        Limits limits = server.limits();
        Fields f = Fields.parse(Http.body(ex, limits.maxBodyBytes()));
        Variant variant = server.variant();
        String prompt = ImageParams.checkPrompt("prompt", f.string("prompt", ""), limits);
        String negative = ImageParams.checkPrompt("negative_prompt", f.string("negative_prompt", ""), limits);
        int width = f.integer("width", 512L, 16, limits.maxSide()).intValue();
        int height = f.integer("height", 512L, 16, limits.maxSide()).intValue();
        ImageParams.checkSize("width", "height", width, height, limits);
        int steps = f.integer("steps", (long) variant.defaultSteps(), 1, limits.maxSteps()).intValue();
        double cfgScale = f.number("cfg_scale", 1 + variant.defaultGuidance(), 1, 101);
        long seed = f.integer("seed", -1L, -1, ImageParams.MAX_SEED);
        int batch = f.integer("batch_size", 1L, 1, limits.maxBatch()).intValue();
        int iterations = f.integer("n_iter", 1L, 1, limits.maxBatch()).intValue();
        if (batch * iterations > limits.maxBatch()) {
            throw ApiException.badField("n_iter", "batch_size × n_iter = " + batch * iterations + " images; at most "
                    + limits.maxBatch());
        }
        boolean sendImages = f.bool("send_images", true);
        ImageParams params = new ImageParams(prompt, negative, width, height, steps, cfgScale - 1, 0, 1,
                ImageParams.seed(seed < 0 ? null : seed), batch * iterations, 1, ImageParams.Inputs.NONE, List.of());

        Job job = server.queue().submit(params);
        OpenAiApi.awaitSuccess(job);
        List<String> images = new ArrayList<>();
        List<Long> seeds = new ArrayList<>();
        List<String> infotexts = new ArrayList<>();
        for (Job.Image img : job.images()) {
            if (sendImages) {
                images.add(Base64.getEncoder().encodeToString(img.png()));
            }
            seeds.add(img.seed());
            infotexts.add(img.parameters());
        }
        Map<String, Object> parameters = new LinkedHashMap<>(f.map());
        parameters.put("prompt", prompt);
        parameters.put("negative_prompt", negative);
        parameters.put("width", width);
        parameters.put("height", height);
        parameters.put("steps", steps);
        parameters.put("cfg_scale", cfgScale);
        parameters.put("seed", params.seed());
        parameters.put("batch_size", batch);
        parameters.put("n_iter", iterations);
        parameters.put("sampler_name", "Euler");

        Map<String, Object> info = new LinkedHashMap<>();
        info.put("prompt", prompt);
        info.put("all_prompts", java.util.Collections.nCopies(seeds.size(), prompt));
        info.put("negative_prompt", negative);
        info.put("all_negative_prompts", java.util.Collections.nCopies(seeds.size(), negative));
        info.put("seed", params.seed());
        info.put("all_seeds", seeds);
        info.put("subseed", -1);
        info.put("all_subseeds", java.util.Collections.nCopies(seeds.size(), -1));
        info.put("subseed_strength", 0);
        info.put("width", width);
        info.put("height", height);
        info.put("sampler_name", "Euler");
        info.put("cfg_scale", cfgScale);
        info.put("steps", steps);
        info.put("batch_size", batch);
        info.put("sd_model_name", server.host().current());
        info.put("job_timestamp", timestamp());
        info.put("infotexts", infotexts);

        Map<String, Object> body = new LinkedHashMap<>();
        body.put("images", images);
        body.put("parameters", parameters);
        body.put("info", Json.write(info));
        Http.json(ex, 200, body);
    }

    void progress(HttpExchange ex) throws IOException {
        Http.requireMethod(ex, "GET");
        JobQueue queue = server.queue();
        Job job = queue.running();
        boolean skipImage = "skip_current_image=true".equals(ex.getRequestURI().getQuery());
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("skipped", false);
        state.put("interrupted", job != null && job.cancel.isCancelled());
        state.put("job", job == null ? "" : job.id());
        state.put("job_count", queue.waitingCount() + (job == null ? 0 : 1));
        state.put("job_timestamp", timestamp());
        state.put("job_no", 0);
        state.put("sampling_step", job == null ? 0 : job.step());
        state.put("sampling_steps", job == null ? 0 : job.totalSteps());
        double progress = job == null ? 0 : job.progress();
        double elapsed = job == null ? 0 : job.seconds();
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("progress", progress);
        body.put("eta_relative", progress > 0 ? elapsed / progress - elapsed : 0.0);
        body.put("state", state);
        byte[] preview = job == null || skipImage ? null : job.latestPreview();
        body.put("current_image", preview == null ? null : Base64.getEncoder().encodeToString(preview));
        body.put("textinfo", job == null ? null : job.stage());
        Http.json(ex, 200, body);
    }

    void interrupt(HttpExchange ex) throws IOException {
        Http.requireMethod(ex, "POST");
        Job job = server.queue().running();
        if (job != null) {
            server.queue().cancel(job);
        }
        Http.json(ex, 200, Map.of());
    }

    void models(HttpExchange ex) throws IOException {
        Http.requireMethod(ex, "GET");
        List<Map<String, Object>> list = new ArrayList<>();
        for (String name : server.host().names()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("title", name);
            m.put("model_name", name);
            m.put("hash", null);
            m.put("filename", name);
            list.add(m);
        }
        Http.json(ex, 200, list);
    }

    private static String timestamp() {
        return LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMddHHmmss"));
    }
}
