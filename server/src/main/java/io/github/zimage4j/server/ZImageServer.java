package io.github.zimage4j.server;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.github.zimage4j.pipeline.Variant;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code zimage4j serve}: the web page, the OpenAI-compatible and A1111-compatible APIs and the native job
 * API over one model and one job queue, on the JDK's HTTP server. It listens at once and loads the model in
 * the background ({@code /health} answers 503 until it is ready).
 */
public final class ZImageServer implements AutoCloseable {

    /**
     * @param host       the interface to bind; anything but loopback requires an API key
     * @param port       0 picks a free port
     * @param apiKey     bearer token for every API call (null = none, loopback only)
     * @param outputDir  where images are written (created); the only folder the server writes to
     * @param queueSize  jobs that may wait behind the running one
     * @param loraDir    the folder whose .safetensors LoRAs requests may name (null = none)
     */
    public record Config(String host, int port, String apiKey, Path outputDir, Limits limits, int queueSize, Path loraDir) {
    }

    /** Z-Image's resolution buckets (the official demo's 1024 and 1280 classes), width × height. */
    static final int[][] SIZES = {
            {1024, 1024}, {1152, 896}, {896, 1152}, {1152, 864}, {864, 1152}, {1248, 832}, {832, 1248},
            {1280, 720}, {720, 1280}, {1344, 576}, {576, 1344},
            {1280, 1280}, {1440, 1120}, {1120, 1440}, {1472, 1104}, {1104, 1472}, {1536, 1024}, {1024, 1536},
            {1536, 864}, {864, 1536}, {1680, 720}, {720, 1680}};

    private static final Pattern JOB_PATH = Pattern.compile("/api/jobs/([0-9a-f]{16})(/events|/cancel|/images/(\\d{1,3}))?");
    private static final Pattern OUTPUT_PATH = Pattern.compile("/outputs/([0-9a-f]{16}-\\d{1,3}\\.png)");
    private static final Map<String, String> STATIC = Map.of(
            "/", "index.html", "/index.html", "index.html", "/app.js", "app.js", "/style.css", "style.css");

    private final Config config;
    private final ModelHost host;
    private final JobQueue queue;
    private final HttpServer http;
    private final ExecutorService executor;
    private final OpenAiApi openAi;
    private final A1111Api a1111;
    private final JobApi jobs;
    private final LoraCatalog loras;

    private ZImageServer(Config config, ModelHost host) throws IOException {
        this.config = config;
        this.host = host;
        this.loras = new LoraCatalog(config.loraDir());
        Files.createDirectories(config.outputDir());
        this.executor = Executors.newVirtualThreadPerTaskExecutor();
        this.http = HttpServer.create(new InetSocketAddress(InetAddress.getByName(config.host()), config.port()), 128);
        this.queue = new JobQueue(host, config.outputDir().toRealPath(), config.queueSize());
        this.openAi = new OpenAiApi(this);
        this.a1111 = new A1111Api(this);
        this.jobs = new JobApi(this);
        http.setExecutor(executor);
        http.createContext("/", this::handle);
        http.start();
    }

    /** Binds and starts serving; the first configured model loads in the background. */
    public static ZImageServer start(Config config, ModelHost host) throws IOException {
        if (config.apiKey() == null && !InetAddress.getByName(config.host()).isLoopbackAddress()) {
            throw new IllegalArgumentException("--host " + config.host() + " is reachable from other machines: give an API key "
                    + "(--api-key or the ZIMAGE4J_API_KEY environment variable), or bind to 127.0.0.1");
        }
        if (config.apiKey() != null && config.apiKey().isBlank()) {
            throw new IllegalArgumentException("--api-key: the key is empty");
        }
        return new ZImageServer(config, host);
    }

    public int port() {
        return http.getAddress().getPort();
    }

    public URI uri() {
        String h = config.host().contains(":") ? "[" + config.host() + "]" : config.host();
        return URI.create("http://" + h + ":" + port());
    }

    public JobQueue queue() {
        return queue;
    }

    Config config() {
        return config;
    }

    Limits limits() {
        return config.limits();
    }

    ModelHost host() {
        return host;
    }

    LoraCatalog loras() {
        return loras;
    }

    /** The loaded model's variant, or a 503 while it loads. */
    Variant variant() {
        return host.pipeline().variant();
    }

    boolean controlNetLoaded() {
        return host.pipeline().controlNet() != null;
    }

    /**
     * Checks a request's {@code model} field: absent, or the loaded model. Another configured model must be
     * switched to explicitly (POST /api/model), never silently per request.
     */
    void checkModel(String requested, boolean strict) {
        if (requested == null || requested.equals(host.current())) {
            return;
        }
        if (strict || host.names().contains(requested)) {
            throw ApiException.badField("model", requested + " is not the loaded model (" + host.current()
                    + "); switch explicitly with POST /api/model {\"model\": \"" + requested + "\"}");
        }
    }

    private void handle(HttpExchange ex) throws IOException {
        try {
            route(ex);
        } catch (ApiException e) {
            Http.error(ex, e);
        } catch (IOException e) {
            ex.close(); // the client went away
        } catch (RuntimeException e) {
            System.getLogger(ZImageServer.class.getName()).log(System.Logger.Level.ERROR, "request failed", e);
            Http.error(ex, ApiException.of(500, "internal error: " + e));
        }
    }

    private void route(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        String page = STATIC.get(path);
        if (page != null) {
            Http.requireMethod(ex, "GET", "HEAD");
            staticFile(ex, page);
            return;
        }
        if (path.equals("/health")) {
            health(ex);
            return;
        }
        authorize(ex);
        Matcher m;
        switch (path) {
            case "/v1/images/generations" -> openAi.generations(ex);
            case "/v1/models" -> openAi.models(ex);
            case "/sdapi/v1/txt2img" -> a1111.txt2img(ex);
            case "/sdapi/v1/progress" -> a1111.progress(ex);
            case "/sdapi/v1/interrupt" -> a1111.interrupt(ex);
            case "/sdapi/v1/sd-models" -> a1111.models(ex);
            case "/api/info" -> jobs.info(ex);
            case "/api/jobs" -> jobs.submit(ex);
            case "/api/model" -> jobs.switchModel(ex);
            default -> {
                if ((m = JOB_PATH.matcher(path)).matches()) {
                    jobs.job(ex, m.group(1), m.group(2), m.group(3));
                } else if ((m = OUTPUT_PATH.matcher(path)).matches()) {
                    output(ex, m.group(1));
                } else {
                    throw ApiException.of(404, "no such endpoint: " + path);
                }
            }
        }
    }

    private void authorize(HttpExchange ex) {
        if (config.apiKey() == null) {
            return;
        }
        String h = ex.getRequestHeaders().getFirst("Authorization");
        String given = h != null && h.regionMatches(true, 0, "Bearer ", 0, 7) ? h.substring(7).strip() : "";
        if (!MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), config.apiKey().getBytes(StandardCharsets.UTF_8))) {
            throw new ApiException(401, null, h == null ? "an API key is required: send Authorization: Bearer <key>"
                    : "the API key is not valid", 0);
        }
    }

    private void health(HttpExchange ex) throws IOException {
        Http.requireMethod(ex, "GET", "HEAD");
        Map<String, Object> m = new LinkedHashMap<>();
        ModelHost.State s = host.state();
        m.put("status", switch (s) {
            case READY -> "ok";
            case LOADING -> "loading";
            case FAILED -> "failed";
        });
        m.put("model", host.current());
        if (s == ModelHost.State.FAILED) {
            m.put("error", host.error());
        }
        Http.json(ex, s == ModelHost.State.READY ? 200 : 503, m);
    }

    private void staticFile(HttpExchange ex, String name) throws IOException {
        try (InputStream in = ZImageServer.class.getResourceAsStream("web/" + name)) {
            if (in == null) {
                throw ApiException.of(404, "missing resource " + name);
            }
            String type = name.endsWith(".html") ? "text/html; charset=utf-8"
                    : name.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
            ex.getResponseHeaders().set("Content-Security-Policy",
                    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'");
            Http.send(ex, 200, type, in.readAllBytes());
        }
    }

    /** An image by its server-made file name, resolved inside the output folder only. */
    private void output(HttpExchange ex, String name) throws IOException {
        Http.requireMethod(ex, "GET", "HEAD");
        Path dir = config.outputDir().toRealPath();
        Path file = dir.resolve(name).normalize();
        if (!file.getParent().equals(dir) || !Files.isRegularFile(file)) {
            throw ApiException.of(404, "no such image: " + name);
        }
        Http.send(ex, 200, "image/png", Files.readAllBytes(file));
    }

    List<Map<String, Object>> sizes() {
        return java.util.Arrays.stream(SIZES).map(s -> Map.<String, Object>of("width", s[0], "height", s[1])).toList();
    }

    @Override
    public void close() {
        http.stop(0);
        queue.close();
        executor.shutdownNow();
    }
}
