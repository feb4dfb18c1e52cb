package io.github.zimage4j.server;

import com.sun.net.httpserver.HttpExchange;
import io.github.zimage4j.pipeline.Variant;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The native job API: {@code POST /api/jobs} queues a job and answers at once (202) with its id;
 * {@code GET /api/jobs/{id}} is its state, {@code GET /api/jobs/{id}/events} its progress as Server-Sent
 * Events (queued, started, stage, progress, preview, then succeeded / failed / cancelled),
 * {@code DELETE /api/jobs/{id}} (or {@code POST …/cancel}) cancels it and {@code GET /api/jobs/{id}/images/{i}}
 * is an image. {@code GET /api/info} describes the model, defaults, limits and sizes for the page;
 * {@code POST /api/model} switches to another configured model.
 */
final class JobApi {

    /** An SSE comment this often keeps proxies from closing an idle stream. */
    private static final long KEEPALIVE_MILLIS = 15_000;

    private final ZImageServer server;

    JobApi(ZImageServer server) {
        this.server = server;
    }

    void submit(HttpExchange ex) throws IOException {
        Http.requireMethod(ex, "POST");
        Fields f = Fields.parse(Http.body(ex, server.limits().maxBodyBytes()));
        server.checkModel(f.string("model", null), true);
        Variant variant = server.variant();
        ImageParams params = ImageParams.fromNative(f, server.limits(), variant, server.controlNetLoaded(), server.loras());
        Job job = server.queue().submit(params);
        ex.getResponseHeaders().set("Location", "/api/jobs/" + job.id());
        Http.json(ex, 202, describe(job));
    }

    void job(HttpExchange ex, String id, String action, String imageIndex) throws IOException {
        Job job = server.queue().get(id);
        if (job == null) {
            throw ApiException.of(404, "no job " + id + " (finished jobs are kept for the last " + JobQueue.RETAINED + ")");
        }
        if (action == null) {
            Http.requireMethod(ex, "GET", "DELETE");
            if (ex.getRequestMethod().equals("DELETE")) {
                server.queue().cancel(job);
            }
            Http.json(ex, 200, describe(job));
        } else if (action.equals("/cancel")) {
            Http.requireMethod(ex, "POST");
            server.queue().cancel(job);
            Http.json(ex, 200, describe(job));
        } else if (action.equals("/events")) {
            Http.requireMethod(ex, "GET");
            events(ex, job);
        } else {
            Http.requireMethod(ex, "GET", "HEAD");
            int i = Integer.parseInt(imageIndex);
            List<Job.Image> images = job.images();
            if (i >= images.size()) {
                throw ApiException.of(404, "job " + id + " has " + images.size() + " image(s) (status " + job.status().json() + ")");
            }
            ex.getResponseHeaders().set("Content-Disposition", "inline; filename=\"zimage-" + images.get(i).seed() + ".png\"");
            Http.send(ex, 200, "image/png", images.get(i).png());
        }
    }

    private void events(HttpExchange ex, Job job) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.sendResponseHeaders(200, 0);
        try (OutputStream out = ex.getResponseBody()) {
            int next = 0;
            while (true) {
                Job.Event e = job.awaitEvent(next, KEEPALIVE_MILLIS);
                if (e == null) {
                    out.write(": keep-alive\n\n".getBytes(StandardCharsets.UTF_8));
                } else {
                    String data = e.terminal() ? io.github.zimage4j.io.Json.write(describe(job)) : e.data();
                    out.write(("id: " + e.seq() + "\nevent: " + e.name() + "\ndata: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
                    next = e.seq() + 1;
                }
                out.flush();
                if (e != null && e.terminal()) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    void info(HttpExchange ex) throws IOException {
        Http.requireMethod(ex, "GET");
        ModelHost host = server.host();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", host.current());
        m.put("models", host.names());
        m.put("status", host.state().name().toLowerCase(java.util.Locale.ROOT));
        Variant v = host.state() == ModelHost.State.READY ? server.variant() : null;
        m.put("variant", v == null ? null : v.displayName());
        m.put("turbo", v == Variant.TURBO);
        Map<String, Object> defaults = new LinkedHashMap<>();
        defaults.put("width", 1024);
        defaults.put("height", 1024);
        defaults.put("steps", v == null ? null : v.defaultSteps());
        defaults.put("guidance", v == null ? null : v.defaultGuidance());
        m.put("defaults", defaults);
        Limits l = server.limits();
        Map<String, Object> limits = new LinkedHashMap<>();
        limits.put("max_side", l.maxSide());
        limits.put("max_pixels", l.maxPixels());
        limits.put("max_steps", l.maxSteps());
        limits.put("max_batch", l.maxBatch());
        limits.put("max_prompt_chars", l.maxPromptChars());
        limits.put("max_body_bytes", l.maxBodyBytes());
        m.put("limits", limits);
        m.put("sizes", server.sizes());
        m.put("controlnet", host.state() == ModelHost.State.READY && server.controlNetLoaded());
        m.put("loras_supported", true);
        m.put("loras", server.loras().names());
        Map<String, Object> q = new LinkedHashMap<>();
        q.put("capacity", server.queue().capacity());
        q.put("waiting", server.queue().waitingCount());
        q.put("running", server.queue().running() != null);
        m.put("queue", q);
        Http.json(ex, 200, m);
    }

    void switchModel(HttpExchange ex) throws IOException {
        Http.requireMethod(ex, "POST");
        Fields f = Fields.parse(Http.body(ex, server.limits().maxBodyBytes()));
        f.requireOnly(java.util.Set.of("model"));
        String name = f.string("model", null);
        if (name == null) {
            throw ApiException.badField("model", "is required (one of " + server.host().names() + ")");
        }
        server.queue().switchModel(name);
        Http.json(ex, 202, Map.of("model", name, "status", "queued"));
    }

    Map<String, Object> describe(Job job) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", job.id());
        m.put("status", job.status().json());
        m.put("position", server.queue().position(job));
        m.put("stage", job.stage());
        m.put("step", job.step());
        m.put("total_steps", job.totalSteps());
        m.put("progress", job.progress());
        m.put("seconds", Math.round(job.seconds() * 1000) / 1000.0);
        m.put("params", job.params().toJson());
        List<Map<String, Object>> images = new ArrayList<>();
        for (Job.Image img : job.images()) {
            Map<String, Object> i = new LinkedHashMap<>();
            i.put("index", img.index());
            i.put("seed", img.seed());
            i.put("url", "/api/jobs/" + job.id() + "/images/" + img.index());
            i.put("file", img.file());
            i.put("parameters", img.parameters());
            images.add(i);
        }
        m.put("images", images);
        m.put("error", job.error());
        return m;
    }
}
