package io.github.zimage4j.server;

import com.sun.net.httpserver.HttpExchange;
import io.github.zimage4j.pipeline.Variant;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * OpenAI's images API: {@code POST /v1/images/generations} with prompt, n, size, response_format
 * ({@code b64_json} or {@code url}), plus Z-Image's settings as extensions (negative_prompt, steps, guidance,
 * cfg_normalization, cfg_truncation, seed, loras). OpenAI-only fields without a Z-Image meaning (quality,
 * style, user, background, moderation) are accepted and ignored, as clients send them by default.
 */
final class OpenAiApi {

    private final ZImageServer server;

    OpenAiApi(ZImageServer server) {
        this.server = server;
    }

    void generations(HttpExchange ex) throws IOException {
        Http.requireMethod(ex, "POST");
        Limits limits = server.limits();
        Fields f = Fields.parse(Http.body(ex, limits.maxBodyBytes()));
        server.checkModel(f.string("model", null), false);
        Variant variant = server.variant();
        String prompt = ImageParams.prompt(f, "prompt", limits);
        int[] size = size(f.string("size", "auto"));
        ImageParams.checkSize("size", "size", size[0], size[1], limits);
        String format = f.string("response_format", "b64_json");
        if (!format.equals("b64_json") && !format.equals("url")) {
            throw ApiException.badField("response_format", "must be b64_json or url, got \"" + format + "\"");
        }
        String outputFormat = f.string("output_format", "png");
        if (!outputFormat.equals("png")) {
            throw ApiException.badField("output_format", "only png is produced, got \"" + outputFormat + "\"");
        }
        List<LoraCatalog.Choice> loras = ImageParams.loras(f, "loras", server.loras());
        ImageParams params = new ImageParams(prompt,
                ImageParams.checkPrompt("negative_prompt", f.string("negative_prompt", ""), limits),
                size[0], size[1],
                f.integer("steps", (long) variant.defaultSteps(), 1, limits.maxSteps()).intValue(),
                f.number("guidance", variant.defaultGuidance(), 0, 100),
                f.number("cfg_normalization", 0.0, 0, 100),
                f.number("cfg_truncation", 1.0, 0, 1),
                ImageParams.seed(f.integer("seed", null, 0, ImageParams.MAX_SEED)),
                f.integer("n", 1L, 1, limits.maxBatch()).intValue(), 0, ImageParams.Inputs.NONE, loras);

        Job job = server.queue().submit(params);
        awaitSuccess(job);
        List<Map<String, Object>> data = new ArrayList<>();
        String base = baseUrl(ex);
        for (Job.Image img : job.images()) {
            Map<String, Object> d = new LinkedHashMap<>();
            if (format.equals("url")) {
                d.put("url", base + "/outputs/" + img.file());
            } else {
                d.put("b64_json", Base64.getEncoder().encodeToString(img.png()));
            }
            d.put("revised_prompt", prompt);
            d.put("seed", img.seed());
            data.add(d);
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("created", System.currentTimeMillis() / 1000);
        body.put("data", data);
        body.put("output_format", "png");
        body.put("size", size[0] + "x" + size[1]);
        Http.json(ex, 200, body);
    }

    void models(HttpExchange ex) throws IOException {
        Http.requireMethod(ex, "GET");
        List<Map<String, Object>> data = new ArrayList<>();
        for (String name : server.host().names()) {
            data.add(Map.of("id", name, "object", "model", "created", 0, "owned_by", "zimage4j"));
        }
        Http.json(ex, 200, Map.of("object", "list", "data", data));
    }

    /** "WxH", or "auto" = 1024x1024 (Z-Image's native size). */
    static int[] size(String s) {
        if (s.equals("auto")) {
            return new int[]{1024, 1024};
        }
        String[] p = s.split("x", -1);
        try {
            if (p.length == 2) {
                int w = Integer.parseInt(p[0]);
                int h = Integer.parseInt(p[1]);
                if (w > 0 && h > 0) {
                    return new int[]{w, h};
                }
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw ApiException.badField("size", "must be WIDTHxHEIGHT (e.g. 1024x1024) or auto, got \"" + s + "\"");
    }

    /** Waits for a synchronous request's job; a failure or cancellation becomes the HTTP answer. */
    static void awaitSuccess(Job job) {
        try {
            job.awaitDone();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ApiException.of(503, "interrupted");
        }
        switch (job.status()) {
            case SUCCEEDED -> {
            }
            case CANCELLED -> throw ApiException.of(409, "the job was cancelled: " + job.error());
            default -> throw ApiException.of(500, "generation failed: " + job.error());
        }
    }

    /** The client-visible base URL (the Host it called). */
    static String baseUrl(HttpExchange ex) {
        String host = ex.getRequestHeaders().getFirst("Host");
        if (host == null || !host.matches("[A-Za-z0-9.\\-\\[\\]:]+")) {
            host = ex.getLocalAddress().getHostString() + ":" + ex.getLocalAddress().getPort();
        }
        return "http://" + host;
    }
}
