package io.github.zimage4j.server;

import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.ZImagePipeline;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.io.OutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Limits checked before any work, bearer auth, the loopback rule, /health before and after loading, path safety. */
class LimitsAndSafetyTest {

    @TempDir
    static Path root;
    static TestServer s;
    static final Limits LIMITS = new Limits(128, 96 * 96, 4, 2, 50, 4096);

    @BeforeAll
    static void start() throws Exception {
        s = new TestServer(root.resolve("limited"), "s3cret-key", LIMITS, 4, TestServer.tinyHost()).ready();
    }

    @AfterAll
    static void stop() {
        s.close();
    }

    static String param(String path, String body) throws Exception {
        HttpResponse<String> r = s.post(path, body);
        assertEquals(400, r.statusCode(), r.body());
        Map<String, Object> e = TestServer.error(r);
        assertTrue(((String) e.get("message")).startsWith(String.valueOf(e.get("param")).split("/")[0]), e.toString());
        return (String) e.get("param");
    }

    @Test
    void everyLimitIsA400NamingTheField() throws Exception {
        long before = s.server.queue().submittedCount();
        assertEquals("width", param("/api/jobs", "{\"prompt\":\"x\",\"width\":144,\"height\":16}"));
        assertEquals("height", param("/api/jobs", "{\"prompt\":\"x\",\"width\":16,\"height\":40}"));
        assertEquals("width/height", param("/api/jobs", "{\"prompt\":\"x\",\"width\":128,\"height\":128}"));
        assertEquals("steps", param("/api/jobs", "{\"prompt\":\"x\",\"width\":16,\"height\":16,\"steps\":5}"));
        assertEquals("steps", param("/api/jobs", "{\"prompt\":\"x\",\"width\":16,\"height\":16,\"steps\":0}"));
        assertEquals("batch_size", param("/api/jobs", "{\"prompt\":\"x\",\"width\":16,\"height\":16,\"batch_size\":3}"));
        assertEquals("prompt", param("/api/jobs", "{\"prompt\":\"" + "x".repeat(51) + "\",\"width\":16,\"height\":16}"));
        assertEquals("negative_prompt", param("/api/jobs", "{\"prompt\":\"x\",\"negative_prompt\":\"" + "y".repeat(51) + "\"}"));
        assertEquals("seed", param("/api/jobs", "{\"prompt\":\"x\",\"width\":16,\"height\":16,\"seed\":-3}"));
        assertEquals("guidance", param("/api/jobs", "{\"prompt\":\"x\",\"width\":16,\"height\":16,\"guidance\":\"high\"}"));
        assertEquals("cfg_truncation", param("/api/jobs", "{\"prompt\":\"x\",\"width\":16,\"height\":16,\"cfg_truncation\":2}"));
        assertEquals("prompt", param("/api/jobs", "{\"prompt\":\"x\",\"prompt\":\"y\"}"));
        assertEquals("n", param("/v1/images/generations", "{\"prompt\":\"x\",\"size\":\"16x16\",\"n\":3}"));
        assertEquals("size", param("/v1/images/generations", "{\"prompt\":\"x\",\"size\":\"256x16\"}"));
        assertEquals("steps", param("/sdapi/v1/txt2img", "{\"prompt\":\"x\",\"width\":16,\"height\":16,\"steps\":9}"));
        assertEquals("n_iter", param("/sdapi/v1/txt2img", "{\"prompt\":\"x\",\"width\":16,\"height\":16,\"batch_size\":2,\"n_iter\":2}"));
        assertEquals(before, s.server.queue().submittedCount(), "nothing refused was queued");
    }

    @Test
    void badJsonAndOversizedBodies() throws Exception {
        HttpResponse<String> r = s.post("/api/jobs", "{\"prompt\": ");
        assertEquals(400, r.statusCode());
        assertTrue(TestServer.error(r).get("message").toString().contains("not valid JSON"), r.body());
        assertEquals(400, s.post("/api/jobs", "[1,2]").statusCode());
        r = s.post("/api/jobs", "{\"prompt\":\"" + "x".repeat(5000) + "\"}");
        assertEquals(413, r.statusCode(), r.body());
        // A chunked body (no Content-Length) is cut off at the limit as well.
        HttpResponse<String> chunked = s.client.send(s.request("/api/jobs").header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(
                        ("{\"prompt\":\"" + "x".repeat(9000) + "\"}").getBytes(StandardCharsets.UTF_8)))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(413, chunked.statusCode(), chunked.body());
    }

    @Test
    void bearerAuthOnEveryApiButHealthAndThePage() throws Exception {
        String key = s.apiKey;
        try {
            s.apiKey = null;
            HttpResponse<String> r = s.post("/v1/images/generations", "{\"prompt\":\"x\",\"size\":\"16x16\"}");
            assertEquals(401, r.statusCode());
            assertTrue(r.headers().firstValue("WWW-Authenticate").orElseThrow().startsWith("Bearer"));
            for (String path : List.of("/api/info", "/sdapi/v1/progress", "/v1/models", "/api/jobs/0123456789abcdef")) {
                assertEquals(401, s.get(path).statusCode(), path);
            }
            assertEquals(200, s.get("/health").statusCode());
            assertEquals(200, s.get("/").statusCode());
            assertEquals(200, s.get("/app.js").statusCode());
            s.apiKey = "wrong";
            assertEquals(401, s.get("/api/info").statusCode());
        } finally {
            s.apiKey = key;
        }
        assertEquals(200, s.get("/api/info").statusCode());
    }

    @Test
    void notLoopbackWithoutAKeyIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ZImageServer.start(
                new ZImageServer.Config("0.0.0.0", 0, null, root.resolve("never"), Limits.defaults(), 1, null), TestServer.tinyHost()));
        assertTrue(e.getMessage().contains("API key"), e.getMessage());
        assertTrue(Files.notExists(root.resolve("never")));
    }

    @Test
    void healthIs503UntilTheModelHasLoaded() throws Exception {
        CountDownLatch loading = new CountDownLatch(1);
        Path model = TestServer.tinyModel();
        ModelHost slow = new ModelHost(List.of("tiny"), name -> {
            TestServer.await(loading);
            return ZImagePipeline.load(ModelFiles.resolve(model.toString(), ModelFiles.Overrides.none()),
                    new ZImagePipeline.Options("java", null));
        });
        try (TestServer t = new TestServer(root.resolve("slow"), null, Limits.defaults(), 2, slow)) {
            HttpResponse<String> h = t.get("/health");
            assertEquals(503, h.statusCode());
            assertEquals("loading", TestServer.json(h).get("status"));
            HttpResponse<String> busy = t.post("/api/jobs", "{\"prompt\":\"x\"}");
            assertEquals(503, busy.statusCode());
            assertTrue(busy.headers().firstValue("Retry-After").isPresent());
            loading.countDown();
            t.ready();
            assertEquals("ok", TestServer.json(t.get("/health")).get("status"));
        } finally {
            loading.countDown();
        }
    }

    @Test
    void filesOnlyUnderTheOutputFolderAndNoPathFromTheRequest() throws Exception {
        HttpResponse<String> r = s.post("/v1/images/generations",
                "{\"prompt\":\"../../../tmp/evil\",\"size\":\"16x16\",\"response_format\":\"url\",\"steps\":1,\"user\":\"../x\"}");
        assertEquals(200, r.statusCode(), r.body());
        try (Stream<Path> all = Files.walk(root.resolve("limited"))) {
            List<Path> files = all.filter(Files::isRegularFile).toList();
            assertTrue(!files.isEmpty());
            for (Path f : files) {
                assertEquals(s.outputDir, f.getParent(), f.toString());
                assertTrue(f.getFileName().toString().matches("[0-9a-f]{16}-\\d+\\.png"), f.toString());
            }
        }
        Files.writeString(root.resolve("secret.txt"), "secret");
        for (String path : List.of("/outputs/../secret.txt", "/outputs/%2e%2e/secret.txt", "/outputs/..%2fsecret.txt",
                "/outputs/0123456789abcdef-0.png", "/outputs/secret.txt", "/api/jobs/../../secret.txt")) {
            assertEquals(404, raw(path), path);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void lorasAreNamedFromTheServersFolderNeverByPath() throws Exception {
        Path dir = java.nio.file.Files.createDirectories(root.resolve("loras"));
        java.nio.file.Files.writeString(dir.resolve("style.safetensors"), "not read until used");
        java.nio.file.Files.writeString(dir.resolve("notes.txt"), "not a LoRA");
        // A real rank-2 LoRA on the tiny model's first attention query (ai-toolkit names, alpha = rank).
        int dim = io.github.zimage4j.pipeline.TinyModel.TRANSFORMER.dim();
        float[] a = new float[2 * dim];
        float[] b = new float[dim * 2];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) Math.sin(i + 1.0);
            b[i] = (float) Math.cos(3.0 * i);
        }
        new io.github.zimage4j.io.SafeTensorsWriter()
                .addF32("diffusion_model.layers.0.attention.to_q.lora_A.weight", new long[]{2, dim}, a)
                .addF32("diffusion_model.layers.0.attention.to_q.lora_B.weight", new long[]{dim, 2}, b)
                .write(dir.resolve("good.safetensors"));
        try (TestServer t = new TestServer(root.resolve("with-loras"), null, Limits.defaults(), 2, TestServer.tinyHost(), dir).ready()) {
            assertEquals(List.of("good.safetensors", "style.safetensors"), TestServer.json(t.get("/api/info")).get("loras"));
            for (String bad : List.of("../loras/style.safetensors", dir.resolve("style.safetensors").toString(), "notes.txt")) {
                HttpResponse<String> r = t.post("/api/jobs", "{\"prompt\":\"x\",\"loras\":[{\"path\":\"" + bad + "\",\"strength\":0.8}]}");
                assertEquals(400, r.statusCode(), r.body());
                assertEquals("loras[0].path", TestServer.error(r).get("param"), r.body());
            }
            HttpResponse<String> r = t.post("/api/jobs", "{\"prompt\":\"x\",\"loras\":[{\"path\":\"style.safetensors\",\"strength\":\"max\"}]}");
            assertEquals("loras[0].strength", TestServer.error(r).get("param"), r.body());
            String plain = "{\"prompt\":\"x\",\"size\":\"16x16\",\"seed\":5";
            r = t.post("/v1/images/generations", plain + "}");
            assertEquals(200, r.statusCode(), r.body());
            String withoutLora = (String) ((List<Map<String, Object>>) TestServer.json(r).get("data")).get(0).get("b64_json");
            r = t.post("/v1/images/generations", plain + ",\"loras\":[{\"path\":\"good.safetensors\",\"strength\":0.8}]}");
            assertEquals(200, r.statusCode(), r.body());
            String withLora = (String) ((List<Map<String, Object>>) TestServer.json(r).get("data")).get(0).get("b64_json");
            assertNotEquals(withoutLora, withLora, "the LoRA changes the image");
            r = t.post("/v1/images/generations", plain + ",\"loras\":[{\"path\":\"style.safetensors\",\"strength\":0.8}]}");
            assertNotEquals(200, r.statusCode(), "a file that is not a LoRA fails the request: " + r.body());
        }
    }

    /** A raw request line, so the client library cannot normalize the path first. */
    static int raw(String path) throws Exception {
        try (Socket socket = new Socket("127.0.0.1", s.server.port())) {
            OutputStream out = socket.getOutputStream();
            out.write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + s.apiKey
                    + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            String status = new String(in.readNBytes(12), StandardCharsets.US_ASCII);
            return Integer.parseInt(status.substring(9, 12));
        }
    }

    @Test
    void retryAfterWhenTheQueueIsFull() throws Exception {
        try (TestServer.Hold hold = s.hold()) {
            List<String> ids = new java.util.ArrayList<>();
            ids.add((String) TestServer.json(s.post("/api/jobs", "{\"prompt\":\"run\",\"width\":16,\"height\":16,\"steps\":1}")).get("id"));
            hold.awaitHeld();
            for (int i = 0; i < 4; i++) {
                HttpResponse<String> ok = s.post("/api/jobs", "{\"prompt\":\"wait\",\"width\":16,\"height\":16,\"steps\":1}");
                assertEquals(202, ok.statusCode(), ok.body());
                assertEquals((long) i + 1, TestServer.json(ok).get("position"));
                ids.add((String) TestServer.json(ok).get("id"));
            }
            HttpResponse<String> full = s.post("/api/jobs", "{\"prompt\":\"one too many\",\"width\":16,\"height\":16,\"steps\":1}");
            assertEquals(429, full.statusCode());
            assertTrue(Long.parseLong(full.headers().firstValue("Retry-After").orElseThrow()) >= 1);
            assertEquals("rate_limit_error", TestServer.error(full).get("type"));
            hold.release();
            for (String id : ids) {
                s.server.queue().get(id).awaitDone();
                assertEquals(Job.Status.SUCCEEDED, s.server.queue().get(id).status());
            }
        }
    }
}
