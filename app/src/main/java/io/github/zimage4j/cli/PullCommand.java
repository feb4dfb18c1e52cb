package io.github.zimage4j.cli;

import io.github.zimage4j.hub.HubCache;
import io.github.zimage4j.hub.HubDownloader;
import io.github.zimage4j.hub.HubSettings;
import io.github.zimage4j.hub.RemoteFile;
import io.github.zimage4j.hub.RepoListing;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code zimage4j pull}: downloads a model repository into the Hugging Face cache. */
@Command(name = "pull", mixinStandardHelpOptions = true,
        description = {"Download a model repository into the Hugging Face cache (the layout huggingface_hub uses, so Python"
                + " tools share the files); `generate --model REPO_ID` then finds it. Interrupted downloads resume; every file"
                + " is checked against the hub's SHA-256 (or git blob id) and fetched again when it does not match.",
                "Environment: HF_TOKEN (private or gated repos), HF_ENDPOINT (a mirror, e.g. https://hf-mirror.com),"
                        + " HF_HUB_CACHE or HF_HOME (where the cache is); for --source modelscope: MODELSCOPE_API_TOKEN,"
                        + " MODELSCOPE_DOMAIN.",
                "Example: zimage4j pull Tongyi-MAI/Z-Image-Turbo --include 'transformer/*' --include '*.json'"})
final class PullCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "REPO_ID", description = "The repository, ORG/NAME (e.g. Tongyi-MAI/Z-Image-Turbo).")
    String repoId;

    @Option(names = "--revision", paramLabel = "R", description = "Branch, tag or commit. Default: main (Hugging Face), master (ModelScope).")
    String revision;

    @Option(names = "--include", paramLabel = "PATTERN", description = "Only files matching this glob (repeatable; `*` also"
            + " matches `/`, a trailing `/` takes a whole folder). Default: every file.")
    List<String> includes = new ArrayList<>();

    @Option(names = "--source", paramLabel = "HUB", defaultValue = "huggingface",
            description = "huggingface or modelscope. Default: ${DEFAULT-VALUE}.")
    String source;

    @Option(names = "--endpoint", paramLabel = "URL", description = "The hub's base URL; overrides HF_ENDPOINT / MODELSCOPE_DOMAIN.")
    URI endpoint;

    @Option(names = "--cache-dir", paramLabel = "DIR", description = "The hub cache folder; overrides HF_HUB_CACHE / HF_HOME.")
    Path cacheDir;

    @Option(names = "--verify", description = "Also re-hash files already in the cache and fetch again those that do not match.")
    boolean verify;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        HubSettings.Source src = switch (source.toLowerCase()) {
            case "huggingface", "hf", "hugging-face" -> HubSettings.Source.HUGGING_FACE;
            case "modelscope", "ms" -> HubSettings.Source.MODELSCOPE;
            default -> throw new IllegalArgumentException("--source: '" + source + "' is not huggingface or modelscope");
        };
        HubDownloader.checkRepoId(repoId);
        HubSettings settings = HubSettings.fromEnvironment(src);
        if (endpoint != null) {
            if (endpoint.getScheme() == null || endpoint.getHost() == null) {
                throw new IllegalArgumentException("--endpoint: '" + endpoint + "' is not an http(s) URL");
            }
            settings = settings.withEndpoint(endpoint);
        }
        HubCache cache = cacheDir != null ? new HubCache(cacheDir) : HubCache.fromEnvironment();
        PrintWriter err = spec.commandLine().getErr();
        Bars bars = new Bars(err, System.console() != null);
        err.println("pulling " + repoId + " from " + settings.endpoint() + " into " + cache.root());
        HubDownloader.Result r = new HubDownloader(settings, cache, bars).pull(repoId, revision, includes, verify);
        bars.finish();
        err.printf("%d of %d files downloaded (%s), the rest were in the cache%n", r.downloaded(), r.files().size(), Bars.bytes(r.downloadedBytes()));
        spec.commandLine().getOut().println(r.snapshot());
        spec.commandLine().getOut().flush();
        return 0;
    }

    /**
     * One line with an overall bar and the current file's bar on a terminal (redrawn in place); on a log or
     * pipe a line per file and per tenth of a large file.
     */
    static final class Bars implements HubDownloader.Listener {
        private final PrintWriter err;
        private final boolean terminal;
        private long total;
        private long cachedBytes;
        private long startNanos;
        private long lastDraw;
        private int lastTenth;
        private boolean open;

        Bars(PrintWriter err, boolean terminal) {
            this.err = err;
            this.terminal = terminal;
        }

        @Override
        public void listed(RepoListing listing, List<RemoteFile> selected, long totalBytes) {
            total = totalBytes;
            startNanos = System.nanoTime();
            err.printf("%s@%s (commit %s): %d files, %s%n", listing.repoId(), listing.revision(), listing.commit(), selected.size(), bytes(totalBytes));
        }

        @Override
        public void fileStarted(RemoteFile file, long resumeFrom) {
            lastTenth = (int) (10 * resumeFrom / Math.max(1, file.size()));
        }

        @Override
        public void progress(RemoteFile file, long fileBytes, long doneBytes) {
            if (terminal) {
                long now = System.nanoTime();
                if (now - lastDraw < 100_000_000L && fileBytes < file.size()) {
                    return;
                }
                lastDraw = now;
                double seconds = (now - startNanos) / 1e9;
                double rate = seconds > 0 ? (doneBytes - cachedBytes) / seconds : 0;
                String eta = rate > 0 ? duration((total - doneBytes) / rate) : "?";
                err.print("\r" + bar(doneBytes, total, 20) + " " + bytes(doneBytes) + "/" + bytes(total) + "  " + shorten(file.path())
                        + " " + bar(fileBytes, file.size(), 12) + " " + bytes(fileBytes) + "/" + bytes(file.size())
                        + "  " + bytes((long) rate) + "/s  ETA " + eta + "   ");
                err.flush();
                open = true;
            } else if (file.size() >= 64L << 20) {
                int tenth = (int) (10 * fileBytes / file.size());
                if (tenth > lastTenth && tenth < 10) {
                    lastTenth = tenth;
                    err.printf("%s: %d%% of %s (all files: %d%%)%n", file.path(), tenth * 10, bytes(file.size()), 100 * doneBytes / Math.max(1, total));
                }
            }
        }

        @Override
        public void fileFinished(RemoteFile file, boolean wasCached) {
            if (wasCached) {
                cachedBytes += file.size();
            }
            if (!terminal) {
                err.println(file.path() + (wasCached ? ": in the cache" : ": done") + " (" + bytes(file.size()) + ")");
            }
        }

        @Override
        public void notice(String message) {
            if (open) {
                err.println();
                open = false;
            }
            err.println(message);
        }

        void finish() {
            if (open) {
                err.println();
                open = false;
            }
        }

        private static String bar(long done, long of, int width) {
            int filled = of <= 0 ? width : (int) Math.min(width, width * done / of);
            return "[" + "#".repeat(filled) + " ".repeat(width - filled) + "]";
        }

        private static String shorten(String path) {
            return path.length() <= 40 ? path : "…" + path.substring(path.length() - 39);
        }

        static String bytes(long b) {
            if (b >= 1L << 30) {
                return String.format("%.2f GB", b / 1e9);
            }
            if (b >= 1L << 20) {
                return String.format("%.1f MB", b / 1e6);
            }
            return b >= 1024 ? String.format("%.0f kB", b / 1e3) : b + " B";
        }

        private static String duration(double seconds) {
            long s = Math.round(seconds);
            return s >= 3600 ? (s / 3600) + "h" + String.format("%02dm", s / 60 % 60) : s >= 60 ? (s / 60) + "m" + String.format("%02ds", s % 60) : s + "s";
        }
    }
}
