package io.github.zimage4j.hub;

import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.TinyModel;
import io.github.zimage4j.pipeline.ZImagePipeline;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code pull} against a local imitation of the Hugging Face and ModelScope APIs: layout, resume, checksums, refusals. */
class HubDownloaderTest {

    static final String REPO = "Tongyi-MAI/Z-Image-Tiny";
    static final String WEIGHTS = "transformer/diffusion_pytorch_model.safetensors";

    @TempDir
    Path tmp;

    FakeHub hub;
    Map<String, byte[]> files;
    String commit;
    final List<String> notices = new ArrayList<>();

    @BeforeEach
    void start() throws IOException {
        hub = new FakeHub();
        files = new TreeMap<>();
        files.put("model_index.json", "{\"_class_name\": \"ZImagePipeline\"}".getBytes());
        files.put("transformer/config.json", "{\"dim\": 64}".getBytes());
        byte[] weights = new byte[3 << 20];
        new Random(1).nextBytes(weights);
        files.put(WEIGHTS, weights);
        commit = hub.addRepo(REPO, files, null);
    }

    @AfterEach
    void stop() {
        hub.close();
    }

    HubSettings settings(HubSettings.Source source, String token) {
        return new HubSettings(source, hub.endpoint(), token, 4, Duration.ofMillis(10), Duration.ofSeconds(5));
    }

    HubDownloader downloader(HubSettings s) {
        return new HubDownloader(s, new HubCache(tmp.resolve("hub")), new HubDownloader.Listener() {
            @Override
            public void notice(String message) {
                notices.add(message);
            }
        });
    }

    HubDownloader downloader() {
        return downloader(settings(HubSettings.Source.HUGGING_FACE, null));
    }

    Path repoFolder() {
        return tmp.resolve("hub/models--Tongyi-MAI--Z-Image-Tiny");
    }

    void assertSnapshotHolds(Path snapshot, Map<String, byte[]> expected) throws IOException {
        for (Map.Entry<String, byte[]> e : expected.entrySet()) {
            Path f = snapshot.resolve(e.getKey());
            assertTrue(Files.isSymbolicLink(f), f + " is a symlink into blobs/");
            assertArrayEquals(e.getValue(), Files.readAllBytes(f), e.getKey());
        }
    }

    @Test
    void pullsIntoTheHuggingFaceCacheLayout() throws IOException {
        HubDownloader.Result r = downloader().pull(REPO, null, List.of(), false);
        Path repo = repoFolder();
        assertEquals(repo.resolve("snapshots").resolve(commit), r.snapshot());
        assertEquals(commit, Files.readString(repo.resolve("refs/main")));
        assertSnapshotHolds(r.snapshot(), files);
        // LFS files are named by their sha256, small files by their git blob id, as huggingface_hub names them.
        String sha = FakeHub.sha256Hex(files.get(WEIGHTS));
        assertTrue(Files.isRegularFile(repo.resolve("blobs").resolve(sha)));
        assertEquals(Path.of("../../../blobs/" + sha), Files.readSymbolicLink(r.snapshot().resolve(WEIGHTS)));
        assertEquals(Path.of("../../../blobs/" + FakeHub.gitBlobId(files.get("transformer/config.json"))),
                Files.readSymbolicLink(r.snapshot().resolve("transformer/config.json")));
        assertEquals(3, r.downloaded());

        HubDownloader.Result again = downloader().pull(REPO, "main", List.of(), false);
        assertEquals(0, again.downloaded(), "a second pull finds everything in the cache");
        assertEquals(0, again.downloadedBytes());
    }

    @Test
    void droppedConnectionResumesWithARangeRequest() throws IOException {
        hub.fault(WEIGHTS, new FakeHub.Drop(1 << 20));
        HubDownloader.Result r = downloader().pull(REPO, null, List.of(), false);
        assertSnapshotHolds(r.snapshot(), files);
        List<FakeHub.Request> cdn = hub.fileRequests(WEIGHTS).stream().filter(q -> q.server().equals("cdn")).toList();
        assertEquals(2, cdn.size(), cdn.toString());
        assertNull(cdn.get(0).range());
        long resumedAt = Long.parseLong(cdn.get(1).range().replaceAll("bytes=(\\d+)-", "$1"));
        assertTrue(resumedAt > 0 && resumedAt <= 1 << 20, "resumed at " + resumedAt);
        assertTrue(notices.stream().anyMatch(n -> n.contains("connection lost")), notices.toString());
    }

    @Test
    void aKilledRunsPartialFileIsResumed() throws IOException {
        // What an interrupted run leaves: blobs/SHA.incomplete with the first bytes.
        byte[] w = files.get(WEIGHTS);
        Path part = repoFolder().resolve("blobs").resolve(FakeHub.sha256Hex(w) + ".incomplete");
        Files.createDirectories(part.getParent());
        Files.write(part, java.util.Arrays.copyOf(w, 777_777));
        HubDownloader.Result r = downloader().pull(REPO, null, List.of(WEIGHTS), false);
        assertSnapshotHolds(r.snapshot(), Map.of(WEIGHTS, w));
        List<FakeHub.Request> cdn = hub.fileRequests(WEIGHTS).stream().filter(q -> q.server().equals("cdn")).toList();
        assertEquals(List.of("bytes=777777-"), cdn.stream().map(FakeHub.Request::range).toList());
        assertEquals(w.length - 777_777, r.downloadedBytes());
        assertFalse(Files.exists(part));
    }

    @Test
    void aCorruptDownloadIsRefusedAndFetchedAgain() throws IOException {
        hub.fault(WEIGHTS, new FakeHub.Corrupt());
        hub.fault("transformer/config.json", new FakeHub.Corrupt());
        HubDownloader.Result r = downloader().pull(REPO, null, List.of(), false);
        assertSnapshotHolds(r.snapshot(), files);
        assertTrue(notices.stream().anyMatch(n -> n.contains(WEIGHTS) && n.contains("refused a corrupt download") && n.contains("sha256")),
                notices.toString());
        assertTrue(notices.stream().anyMatch(n -> n.contains("transformer/config.json") && n.contains("git blob id")), notices.toString());
    }

    @Test
    void aFileCorruptTwiceIsAnErrorAndLeavesNothing() throws IOException {
        hub.fault(WEIGHTS, new FakeHub.Corrupt(), new FakeHub.Corrupt());
        HubException e = assertThrows(HubException.class, () -> downloader().pull(REPO, null, List.of(WEIGHTS), false));
        assertTrue(e.getMessage().contains(WEIGHTS) && e.getMessage().contains("checksum"), e.getMessage());
        try (Stream<Path> s = Files.list(repoFolder().resolve("blobs"))) {
            assertEquals(List.of(), s.toList(), "no blob and no partial file kept");
        }
    }

    @Test
    void aCorruptCachedFileIsFetchedAgainWithVerify() throws IOException {
        downloader().pull(REPO, null, List.of(), false);
        Path blob = repoFolder().resolve("blobs").resolve(FakeHub.sha256Hex(files.get(WEIGHTS)));
        byte[] bad = Files.readAllBytes(blob);
        bad[10] ^= 1;
        Files.write(blob, bad);
        HubDownloader.Result r = downloader().pull(REPO, null, List.of(), true);
        assertEquals(1, r.downloaded());
        assertSnapshotHolds(r.snapshot(), files);
    }

    @Test
    void privateRepoNeedsTheToken() throws IOException {
        hub.addRepo("acme/private", files, "hf_secret");
        HubException e = assertThrows(HubException.class,
                () -> downloader().pull("acme/private", null, List.of(), false));
        assertTrue(e.getMessage().contains("401") && e.getMessage().contains("HF_TOKEN"), e.getMessage());

        HubDownloader.Result r = downloader(settings(HubSettings.Source.HUGGING_FACE, "hf_secret")).pull("acme/private", null, List.of(), false);
        assertEquals(3, r.downloaded());
        // The token goes to the hub, never to the CDN the hub redirects to.
        for (FakeHub.Request q : hub.requests()) {
            if (q.server().equals("cdn")) {
                assertNull(q.authorization(), q.toString());
            }
        }
        assertTrue(hub.requests().stream().anyMatch(q -> "Bearer hf_secret".equals(q.authorization())));
    }

    @Test
    void unknownRepoRevisionAndFileAreClearMessages() {
        HubException repo = assertThrows(HubException.class, () -> downloader().pull("nobody/nothing", null, List.of(), false));
        assertTrue(repo.getMessage().contains("nobody/nothing") && repo.getMessage().contains("not found (404, RepoNotFound)"), repo.getMessage());
        HubException rev = assertThrows(HubException.class, () -> downloader().pull(REPO, "v9", List.of(), false));
        assertTrue(rev.getMessage().contains(REPO + "@v9") && rev.getMessage().contains("RevisionNotFound"), rev.getMessage());
        IllegalArgumentException include = assertThrows(IllegalArgumentException.class,
                () -> downloader().pull(REPO, null, List.of("vae/*"), false));
        assertTrue(include.getMessage().contains("--include vae/*") && include.getMessage().contains(WEIGHTS), include.getMessage());
        IllegalArgumentException id = assertThrows(IllegalArgumentException.class, () -> downloader().pull("../etc", null, List.of(), false));
        assertTrue(id.getMessage().contains("ORG/NAME"), id.getMessage());
    }

    @Test
    void rateLimitsAreWaitedOutThenReported() throws IOException {
        hub.apiFault(new FakeHub.Status(429, "1"));
        hub.fault(WEIGHTS, new FakeHub.Status(429, "0"), new FakeHub.Status(503, null));
        long t0 = System.nanoTime();
        HubDownloader.Result r = downloader().pull(REPO, null, List.of(), false);
        assertTrue(System.nanoTime() - t0 >= 900_000_000L, "Retry-After: 1 was honoured");
        assertSnapshotHolds(r.snapshot(), files);
        assertTrue(notices.stream().anyMatch(n -> n.contains("rate limited (429)")), notices.toString());

        hub.apiFault(new FakeHub.Status(429, "0"), new FakeHub.Status(429, "0"), new FakeHub.Status(429, "0"), new FakeHub.Status(429, "0"));
        HubException e = assertThrows(HubException.class, () -> downloader().pull(REPO, null, List.of(), false));
        assertTrue(e.getMessage().contains("rate limited") && e.getMessage().contains("4 times"), e.getMessage());

        hub.apiFault(new FakeHub.Status(429, "3600"));
        HubException longWait = assertThrows(HubException.class, () -> downloader().pull(REPO, null, List.of(), false));
        assertTrue(longWait.getMessage().contains("3600 s"), longWait.getMessage());
    }

    @Test
    void includePatternsSelectFiles() throws IOException {
        HubDownloader.Result r = downloader().pull(REPO, null, List.of("transformer/", "*.json"), false);
        assertEquals(3, r.files().size());
        HubDownloader.Result configs = downloader().pull(REPO, null, List.of("*config.json"), false);
        assertEquals(List.of("transformer/config.json"), configs.files().stream().map(RemoteFile::path).toList());
        assertTrue(HubDownloader.glob("model-0000[1-2]-of-*.safetensors").matcher("model-00002-of-00003.safetensors").matches());
        assertFalse(HubDownloader.glob("model-0000[!1-2]-of-*").matcher("model-00002-of-00003").matches());
    }

    @Test
    void pullsFromModelScope() throws IOException {
        hub.fault(WEIGHTS, new FakeHub.Drop(1 << 20));
        HubDownloader.Result r = downloader(settings(HubSettings.Source.MODELSCOPE, null)).pull(REPO, null, List.of(), false);
        assertEquals(repoFolder().resolve("snapshots/master"), r.snapshot());
        assertSnapshotHolds(r.snapshot(), files);
        // The connection drops after the server sent 1 MiB; the client resumes from what reached it.
        List<FakeHub.Request> fetches = hub.requests().stream()
                .filter(q -> q.path().contains("/api/v1/models/" + REPO + "/repo?Revision=master&FilePath=" + WEIGHTS)).toList();
        assertEquals(2, fetches.size(), fetches.toString());
        long resumedAt = Long.parseLong(fetches.get(1).range().replaceAll("bytes=(\\d+)-", "$1"));
        assertTrue(resumedAt > 0 && resumedAt <= 1 << 20, "resumed at " + resumedAt);
    }

    @Test
    void unsafePathsFromTheHubAreRefused() {
        hub.addRepo("evil/repo", Map.of("../../outside.txt", new byte[]{1}), null);
        HubException e = assertThrows(HubException.class, () -> downloader().pull("evil/repo", null, List.of(), false));
        assertTrue(e.getMessage().contains("unsafe path"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("outside.txt")));
    }

    @Test
    void aPulledModelResolvesByRepoIdAndLoads() throws IOException {
        Path model = tmp.resolve("tiny");
        TinyModel.write(model, 5);
        hub.addRepo("acme/zimage-tiny", model);
        HubCache cache = new HubCache(tmp.resolve("hub"));
        new HubDownloader(settings(HubSettings.Source.HUGGING_FACE, null), cache, new HubDownloader.Listener() {
        }).pull("acme/zimage-tiny", null, List.of(), false);
        ModelFiles mf = ModelFiles.resolve("acme/zimage-tiny", ModelFiles.Overrides.none(), cache);
        assertTrue(mf.transformer().startsWith(cache.repoFolder("acme/zimage-tiny").resolve("snapshots")), mf.transformer().toString());
        try (ZImagePipeline pipe = ZImagePipeline.load(mf, ZImagePipeline.Options.defaults())) {
            assertTrue(pipe != null);
        }
    }
}
