package io.github.zimage4j.hub;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * A local imitation of the Hugging Face hub API ({@code /api/models/…/revision/…?blobs=true},
 * {@code /…/resolve/COMMIT/PATH} redirecting LFS files to a separate "CDN" server) and of ModelScope's
 * ({@code /api/v1/models/…/repo/files}, {@code /api/v1/models/…/repo?FilePath=}), on 127.0.0.1, with
 * faults to inject per file: a dropped connection, corrupt bytes, an HTTP status (401/404/429 with
 * Retry-After). Range requests are answered with 206 as the real servers do.
 */
public final class FakeHub implements AutoCloseable {

    /** Files above this size are LFS files (listed with lfs.sha256, served from the CDN). */
    static final int LFS_THRESHOLD = 1024;

    /** One fault, used once, for the next request of a file. */
    public sealed interface Fault {
    }

    /** Sends the headers of the whole answer, then this many bytes, then closes the connection. */
    public record Drop(int afterBytes) implements Fault {
    }

    /** Sends the file with one byte changed. */
    public record Corrupt() implements Fault {
    }

    /** Answers this status (with Retry-After when not null) instead of the file. */
    public record Status(int code, String retryAfter) implements Fault {
    }

    /** A request as the server saw it. */
    public record Request(String server, String path, String range, String authorization) {
    }

    private record Repo(String commit, Map<String, byte[]> files, String token) {
    }

    private final HttpServer api;
    private final HttpServer cdn;
    private final Map<String, Repo> repos = new ConcurrentHashMap<>();
    private final Map<String, Deque<Fault>> faults = new ConcurrentHashMap<>();
    private final Deque<Fault> apiFaults = new ArrayDeque<>();
    private final List<Request> requests = Collections.synchronizedList(new ArrayList<>());

    public FakeHub() throws IOException {
        api = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        cdn = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        api.createContext("/", this::handleApi);
        cdn.createContext("/", this::handleCdn);
        api.start();
        cdn.start();
    }

    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + api.getAddress().getPort());
    }

    /** Publishes a repository; {@code token} non-null makes it private (401 without that bearer token). */
    public String addRepo(String repoId, Map<String, byte[]> files, String token) {
        String commit = sha1Hex((repoId + files.keySet()).getBytes(StandardCharsets.UTF_8));
        repos.put(repoId, new Repo(commit, new TreeMap<>(files), token));
        return commit;
    }

    /** Publishes every file under {@code dir}, paths relative to it. */
    public String addRepo(String repoId, Path dir) throws IOException {
        Map<String, byte[]> files = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                files.put(dir.relativize(p).toString().replace('\\', '/'), Files.readAllBytes(p));
            }
        }
        return addRepo(repoId, files, null);
    }

    public void fault(String path, Fault... f) {
        faults.computeIfAbsent(path, k -> new ArrayDeque<>()).addAll(List.of(f));
    }

    /** Faults for the listing requests (any repo). */
    public synchronized void apiFault(Fault... f) {
        apiFaults.addAll(List.of(f));
    }

    public List<Request> requests() {
        synchronized (requests) {
            return List.copyOf(requests);
        }
    }

    /** The requests that fetched {@code path} (on either server). */
    public List<Request> fileRequests(String path) {
        return requests().stream().filter(r -> r.path().endsWith("/" + path) || r.path().endsWith("FilePath=" + path)
                || r.path().endsWith("/cdn/" + blobOf(path))).toList();
    }

    private final Map<String, String> blobPaths = new ConcurrentHashMap<>();

    private String blobOf(String path) {
        return blobPaths.getOrDefault(path, "\0");
    }

    public static String sha256Hex(byte[] b) {
        return hex("SHA-256", b);
    }

    public static String gitBlobId(byte[] b) {
        byte[] head = ("blob " + b.length + "\0").getBytes(StandardCharsets.US_ASCII);
        byte[] all = new byte[head.length + b.length];
        System.arraycopy(head, 0, all, 0, head.length);
        System.arraycopy(b, 0, all, head.length, b.length);
        return sha1Hex(all);
    }

    private static String sha1Hex(byte[] b) {
        return hex("SHA-1", b);
    }

    private static String hex(String alg, byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance(alg).digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private void record(String server, HttpExchange ex) {
        requests.add(new Request(server, ex.getRequestURI().getRawPath()
                + (ex.getRequestURI().getRawQuery() == null ? "" : "?" + URLDecoder.decode(ex.getRequestURI().getRawQuery(), StandardCharsets.UTF_8)),
                ex.getRequestHeaders().getFirst("Range"), ex.getRequestHeaders().getFirst("Authorization")));
    }

    private void handleApi(HttpExchange ex) throws IOException {
        record("api", ex);
        try (ex) {
            String path = URLDecoder.decode(ex.getRequestURI().getRawPath(), StandardCharsets.UTF_8);
            Map<String, String> query = query(ex);
            if (path.startsWith("/api/models/")) {
                // /api/models/ORG/NAME/revision/REV
                String[] p = path.substring("/api/models/".length()).split("/", 4);
                Repo repo = authorizedRepo(ex, p[0] + "/" + p[1]);
                if (repo == null || apiFault(ex)) {
                    return;
                }
                if (!p[3].equals("main") && !p[3].equals(repo.commit())) {
                    error(ex, 404, "RevisionNotFound", "Invalid rev id: " + p[3]);
                    return;
                }
                json(ex, hfListing(repo));
            } else if (path.startsWith("/api/v1/models/") && path.endsWith("/repo/files")) {
                String[] p = path.substring("/api/v1/models/".length()).split("/");
                Repo repo = authorizedRepo(ex, p[0] + "/" + p[1]);
                if (repo == null || apiFault(ex)) {
                    return;
                }
                json(ex, msListing(repo, query.get("Revision")));
            } else if (path.startsWith("/api/v1/models/") && path.endsWith("/repo")) {
                String[] p = path.substring("/api/v1/models/".length()).split("/");
                Repo repo = authorizedRepo(ex, p[0] + "/" + p[1]);
                if (repo != null) {
                    serveFile(ex, query.get("FilePath"), repo.files().get(query.get("FilePath")));
                }
            } else {
                // /ORG/NAME/resolve/COMMIT/PATH
                String[] p = path.substring(1).split("/", 5);
                if (p.length < 5 || !p[2].equals("resolve")) {
                    error(ex, 404, null, "no route");
                    return;
                }
                Repo repo = authorizedRepo(ex, p[0] + "/" + p[1]);
                if (repo == null) {
                    return;
                }
                byte[] data = repo.files().get(p[4]);
                if (data == null || !p[3].equals(repo.commit())) {
                    error(ex, 404, "EntryNotFound", p[4] + " does not exist on " + p[3]);
                    return;
                }
                if (data.length > LFS_THRESHOLD) {
                    String blob = sha256Hex(data);
                    blobPaths.put(p[4], blob);
                    ex.getResponseHeaders().add("Location", "http://127.0.0.1:" + cdn.getAddress().getPort() + "/cdn/" + blob);
                    ex.sendResponseHeaders(302, -1);
                    return;
                }
                serveFile(ex, p[4], data);
            }
        }
    }

    private void handleCdn(HttpExchange ex) throws IOException {
        record("cdn", ex);
        try (ex) {
            String blob = ex.getRequestURI().getPath().substring("/cdn/".length());
            for (Repo repo : repos.values()) {
                for (Map.Entry<String, byte[]> e : repo.files().entrySet()) {
                    if (sha256Hex(e.getValue()).equals(blob)) {
                        serveFile(ex, e.getKey(), e.getValue());
                        return;
                    }
                }
            }
            error(ex, 404, null, "no such blob");
        }
    }

    private Repo authorizedRepo(HttpExchange ex, String repoId) throws IOException {
        Repo repo = repos.get(repoId);
        if (repo == null) {
            error(ex, 404, "RepoNotFound", "Repository not found");
            return null;
        }
        if (repo.token() != null && !("Bearer " + repo.token()).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
            error(ex, 401, null, "Invalid credentials in Authorization header");
            return null;
        }
        return repo;
    }

    private synchronized boolean apiFault(HttpExchange ex) throws IOException {
        Fault f = apiFaults.poll();
        if (f instanceof Status s) {
            status(ex, s);
            return true;
        }
        return false;
    }

    private void serveFile(HttpExchange ex, String path, byte[] data) throws IOException {
        if (data == null) {
            error(ex, 404, "EntryNotFound", path + " does not exist");
            return;
        }
        Deque<Fault> q = faults.get(path);
        Fault fault = q == null ? null : q.poll();
        if (fault instanceof Status s) {
            status(ex, s);
            return;
        }
        byte[] body = data;
        if (fault instanceof Corrupt) {
            body = data.clone();
            body[body.length / 2] ^= 0x55;
        }
        long start = 0;
        String range = ex.getRequestHeaders().getFirst("Range");
        if (range != null && range.startsWith("bytes=") && range.endsWith("-")) {
            start = Long.parseLong(range.substring(6, range.length() - 1));
        }
        int len = (int) (body.length - start);
        if (start > 0) {
            ex.getResponseHeaders().add("Content-Range", "bytes " + start + "-" + (body.length - 1) + "/" + body.length);
            ex.sendResponseHeaders(206, len);
        } else {
            ex.sendResponseHeaders(200, len);
        }
        OutputStream os = ex.getResponseBody();
        if (fault instanceof Drop d) {
            os.write(body, (int) start, Math.min(d.afterBytes(), len));
            os.flush();
            ex.close(); // the declared length never arrives: the connection ends early
            return;
        }
        os.write(body, (int) start, len);
    }

    private static void status(HttpExchange ex, Status s) throws IOException {
        if (s.retryAfter() != null) {
            ex.getResponseHeaders().add("Retry-After", s.retryAfter());
        }
        byte[] body = ("{\"error\":\"status " + s.code() + "\"}").getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(s.code(), body.length);
        ex.getResponseBody().write(body);
    }

    private static void error(HttpExchange ex, int code, String errorCode, String message) throws IOException {
        if (errorCode != null) {
            ex.getResponseHeaders().add("X-Error-Code", errorCode);
        }
        ex.getResponseHeaders().add("X-Error-Message", message);
        byte[] body = ("{\"error\":\"" + message + "\"}").getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(code, body.length);
        ex.getResponseBody().write(body);
    }

    private static String hfListing(Repo repo) {
        StringBuilder sb = new StringBuilder("{\"id\":\"x\",\"sha\":\"" + repo.commit() + "\",\"siblings\":[");
        boolean first = true;
        for (Map.Entry<String, byte[]> e : repo.files().entrySet()) {
            byte[] d = e.getValue();
            sb.append(first ? "" : ",").append("{\"rfilename\":\"").append(e.getKey()).append("\",\"size\":").append(d.length)
                    .append(",\"blobId\":\"").append(gitBlobId(d)).append('"');
            if (d.length > LFS_THRESHOLD) {
                sb.append(",\"lfs\":{\"sha256\":\"").append(sha256Hex(d)).append("\",\"size\":").append(d.length)
                        .append(",\"pointerSize\":134}");
            }
            sb.append('}');
            first = false;
        }
        return sb.append("]}").toString();
    }

    private static String msListing(Repo repo, String revision) {
        StringBuilder sb = new StringBuilder("{\"Code\":200,\"Data\":{\"Files\":[");
        Map<String, Boolean> dirs = new LinkedHashMap<>();
        boolean first = true;
        for (Map.Entry<String, byte[]> e : repo.files().entrySet()) {
            String path = e.getKey();
            int slash = path.lastIndexOf('/');
            if (slash > 0 && dirs.put(path.substring(0, slash), true) == null) {
                sb.append(first ? "" : ",").append("{\"Name\":\"").append(path, 0, slash).append("\",\"Path\":\"")
                        .append(path, 0, slash).append("\",\"Type\":\"tree\",\"Size\":0}");
                first = false;
            }
            sb.append(first ? "" : ",").append("{\"Name\":\"").append(path.substring(slash + 1)).append("\",\"Path\":\"")
                    .append(path).append("\",\"Type\":\"blob\",\"Size\":").append(e.getValue().length)
                    .append(",\"Sha256\":\"").append(sha256Hex(e.getValue())).append("\",\"Revision\":\"")
                    .append(revision).append("\"}");
            first = false;
        }
        return sb.append("]},\"Message\":\"success\",\"Success\":true}").toString();
    }

    private static void json(HttpExchange ex, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(200, b.length);
        ex.getResponseBody().write(b);
    }

    private static Map<String, String> query(HttpExchange ex) {
        Map<String, String> q = new LinkedHashMap<>();
        String raw = ex.getRequestURI().getRawQuery();
        if (raw != null) {
            for (String kv : raw.split("&")) {
                int eq = kv.indexOf('=');
                q.put(URLDecoder.decode(eq < 0 ? kv : kv.substring(0, eq), StandardCharsets.UTF_8),
                        eq < 0 ? "" : URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8));
            }
        }
        return q;
    }

    @Override
    public void close() {
        api.stop(0);
        cdn.stop(0);
    }
}
