package io.github.zimage4j.server;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.TinyModel;
import io.github.zimage4j.pipeline.ZImagePipeline;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/** The server on the tiny random model, bound to 127.0.0.1 on a free port, with an HTTP client for it. */
final class TestServer implements AutoCloseable {

    private static Path tinyModel;

    final ZImageServer server;
    final Path outputDir;
    final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    String apiKey;

    /** The tiny model, written once per test JVM. */
    static synchronized Path tinyModel() {
        if (tinyModel == null) {
            try {
                Path dir = Files.createTempDirectory("zimage4j-tiny");
                TinyModel.write(dir, 3);
                tinyModel = dir;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return tinyModel;
    }

    static ModelHost tinyHost() {
        Path model = tinyModel();
        return new ModelHost(List.of("tiny"), name -> ZImagePipeline.load(
                ModelFiles.resolve(model.toString(), ModelFiles.Overrides.none()), new ZImagePipeline.Options("java", null)));
    }

    TestServer(Path root, String apiKey, Limits limits, int queueSize, ModelHost host) throws IOException {
        this(root, apiKey, limits, queueSize, host, null);
    }

    TestServer(Path root, String apiKey, Limits limits, int queueSize, ModelHost host, Path loraDir) throws IOException {
        this.outputDir = root.resolve("out");
        this.apiKey = apiKey;
        this.server = ZImageServer.start(new ZImageServer.Config("127.0.0.1", 0, apiKey, outputDir, limits, queueSize, loraDir), host);
    }

    TestServer(Path root) throws IOException {
        this(root, null, Limits.defaults(), 16, tinyHost());
    }

    URI uri(String path) {
        return URI.create(server.uri() + path);
    }

    /** Waits until /health says 200 (the model loaded). */
    TestServer ready() throws Exception {
        long deadline = System.currentTimeMillis() + 60_000;
        while (System.currentTimeMillis() < deadline) {
            if (get("/health").statusCode() == 200) {
                return this;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("the model did not load within 60 s");
    }

    HttpRequest.Builder request(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(120));
        if (apiKey != null) {
            b.header("Authorization", "Bearer " + apiKey);
        }
        return b;
    }

    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return client.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<byte[]> getBytes(String path) throws IOException, InterruptedException {
        return client.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    HttpResponse<String> post(String path, String json) throws IOException, InterruptedException {
        return client.send(request(path).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> json(HttpResponse<String> r) {
        return (Map<String, Object>) Json.parse(r.body());
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> error(HttpResponse<String> r) {
        return (Map<String, Object>) json(r).get("error");
    }

    static BufferedImage png(byte[] bytes) throws IOException {
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(bytes));
        if (img == null) {
            throw new AssertionError("not a PNG (" + bytes.length + " bytes)");
        }
        return img;
    }

    /** Holds the worker after a step of every job until closed; {@link Hold#held} counts down at the first. */
    Hold hold() {
        return new Hold(server.queue());
    }

    static final class Hold implements AutoCloseable {
        final java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1);
        private final java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        private final JobQueue queue;

        Hold(JobQueue queue) {
            this.queue = queue;
            queue.afterStep = job -> {
                held.countDown();
                await(release);
            };
        }

        /** Waits until a job is held. */
        void awaitHeld() throws InterruptedException {
            if (!held.await(60, java.util.concurrent.TimeUnit.SECONDS)) {
                throw new AssertionError("no job reached a step within 60 s");
            }
        }

        void release() {
            release.countDown();
        }

        @Override
        public void close() {
            release.countDown();
            queue.afterStep = job -> { };
        }
    }

    static void await(java.util.concurrent.CountDownLatch latch) {
        try {
            latch.await(60, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        server.close();
    }
}
