package io.github.zimage4j.hub;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Downloads a repository (or the files matching some patterns) into the {@link HubCache}: each file is
 * fetched into {@code blobs/BLOB.incomplete}, resumed with an HTTP Range request after a dropped connection
 * or an interrupted run, checked against the hub's SHA-256 (LFS files) or git blob id (small files), moved
 * to {@code blobs/BLOB} and linked from {@code snapshots/COMMIT/PATH}. A file that does not match is
 * deleted and fetched once more; a second mismatch is an error. Files already in the cache are kept.
 */
public final class HubDownloader {

    /** What a pull reports while it runs (all methods are called on the pulling thread). */
    public interface Listener {
        /** The files to fetch and their total size, before the first byte moves. */
        default void listed(RepoListing listing, List<RemoteFile> selected, long totalBytes) {
        }

        /** A file starts, {@code resumeFrom} bytes already on disk from an earlier try. */
        default void fileStarted(RemoteFile file, long resumeFrom) {
        }

        /** {@code fileBytes} of {@code file} are on disk; {@code doneBytes} of the whole pull. */
        default void progress(RemoteFile file, long fileBytes, long doneBytes) {
        }

        default void fileFinished(RemoteFile file, boolean wasCached) {
        }

        /** Retries, resumes, checksum failures: things worth a line, not an error. */
        default void notice(String message) {
        }
    }

    /** What a pull did: the snapshot folder and how many files and bytes came over the network. */
    public record Result(RepoListing listing, Path snapshot, List<RemoteFile> files, int downloaded, long downloadedBytes) {
    }

    private static final Pattern REPO_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*");
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");

    private final HubSettings settings;
    private final HubCache cache;
    private final Listener listener;
    private final HubApi api;

    public HubDownloader(HubSettings settings, HubCache cache, Listener listener) {
        this.settings = settings;
        this.cache = cache;
        this.listener = listener;
        this.api = HubApi.of(new HubHttp(settings, listener::notice));
    }

    /** Checks a repo id's form ({@code ORG/NAME}) before any request is made. */
    public static void checkRepoId(String repoId) {
        if (repoId == null || !REPO_ID.matcher(repoId).matches() || repoId.contains("..")) {
            throw new IllegalArgumentException("REPO_ID: '" + repoId + "' is not a repository id of the form ORG/NAME"
                    + " (e.g. Tongyi-MAI/Z-Image-Turbo)");
        }
    }

    /** The repository's files at {@code revision} (null: the hub's default branch). */
    public RepoListing list(String repoId, String revision) throws IOException {
        checkRepoId(repoId);
        RepoListing listing = api.listing(repoId, revision == null ? settings.source().defaultRevision() : revision);
        for (RemoteFile f : listing.files()) {
            checkPath(listing, f.path());
        }
        checkPath(listing, listing.commit());
        return listing;
    }

    /**
     * Downloads the files of {@code repoId} at {@code revision} whose path matches one of {@code includes}
     * (fnmatch globs as huggingface_hub's {@code allow_patterns}: {@code *} also crosses {@code /}, a trailing
     * {@code /} means the whole folder; empty: every file).
     *
     * @param verifyCached re-hash files already in the cache and fetch again those that do not match
     */
    public Result pull(String repoId, String revision, List<String> includes, boolean verifyCached) throws IOException {
        RepoListing listing = list(repoId, revision);
        List<RemoteFile> selected = select(listing, includes);
        long total = 0;
        for (RemoteFile f : selected) {
            total += f.size();
        }
        listener.listed(listing, selected, total);
        long done = 0;
        int downloaded = 0;
        long downloadedBytes = 0;
        for (RemoteFile f : selected) {
            Path blob = cache.blob(repoId, f.blobName());
            Files.createDirectories(blob.getParent());
            boolean cached;
            try (HeldLock lock = lock(repoId, f)) {
                cached = isCached(blob, f, verifyCached);
                if (!cached) {
                    downloadedBytes += fetch(listing, f, blob, done);
                    downloaded++;
                }
            }
            cache.link(repoId, listing.commit(), f.path(), f.blobName());
            done += f.size();
            listener.progress(f, f.size(), done);
            listener.fileFinished(f, cached);
        }
        cache.writeRef(repoId, listing.revision(), listing.commit());
        return new Result(listing, cache.snapshotFolder(repoId, listing.commit()), selected, downloaded, downloadedBytes);
    }

    static List<RemoteFile> select(RepoListing listing, List<String> includes) {
        if (includes == null || includes.isEmpty()) {
            return listing.files();
        }
        List<Pattern> patterns = new ArrayList<>();
        for (String p : includes) {
            patterns.add(glob(p.endsWith("/") ? p + "*" : p));
        }
        List<RemoteFile> out = new ArrayList<>();
        for (RemoteFile f : listing.files()) {
            if (patterns.stream().anyMatch(p -> p.matcher(f.path()).matches())) {
                out.add(f);
            }
        }
        if (out.isEmpty()) {
            List<String> names = listing.files().stream().map(RemoteFile::path).limit(30).toList();
            throw new IllegalArgumentException("--include " + String.join(", ", includes) + " matches none of the "
                    + listing.files().size() + " files of " + listing.repoId() + "@" + listing.revision() + ": "
                    + String.join(", ", names) + (listing.files().size() > names.size() ? ", …" : ""));
        }
        return out;
    }

    /** Python's fnmatch: {@code *} any characters (slashes too), {@code ?} one, {@code [seq]} and {@code [!seq]}. */
    static Pattern glob(String glob) {
        StringBuilder re = new StringBuilder();
        for (int i = 0; i < glob.length(); i++) {
            char c = glob.charAt(i);
            switch (c) {
                case '*' -> re.append(".*");
                case '?' -> re.append('.');
                case '[' -> {
                    int end = glob.indexOf(']', i + 2);
                    if (end < 0) {
                        re.append("\\[");
                    } else {
                        String set = glob.substring(i + 1, end);
                        re.append('[').append(set.startsWith("!") ? "^" + set.substring(1).replace("\\", "\\\\")
                                : set.replace("\\", "\\\\")).append(']');
                        i = end;
                    }
                }
                default -> re.append(Pattern.quote(String.valueOf(c)));
            }
        }
        return Pattern.compile(re.toString(), Pattern.DOTALL);
    }

    private static void checkPath(RepoListing listing, String path) throws HubException {
        boolean bad = path.isEmpty() || path.startsWith("/") || path.contains("\\") || path.contains("\0");
        for (String part : path.split("/")) {
            bad |= part.isEmpty() || part.equals(".") || part.equals("..");
        }
        if (bad) {
            throw new HubException(listing.repoId() + "@" + listing.revision() + ": the hub lists an unsafe path '" + path
                    + "'; refusing to write outside the cache");
        }
    }

    private HeldLock lock(String repoId, RemoteFile f) throws IOException {
        Path lockFile = cache.root().resolve(".locks").resolve(cache.repoFolder(repoId).getFileName()).resolve(f.blobName() + ".lock");
        Files.createDirectories(lockFile.getParent());
        FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        try {
            FileLock lock = ch.tryLock();
            if (lock == null) {
                listener.notice(f.path() + ": another download of this file is running; waiting for it");
                lock = ch.lock();
            }
            return new HeldLock(ch, lock);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private boolean isCached(Path blob, RemoteFile f, boolean verify) throws IOException {
        if (!Files.isRegularFile(blob)) {
            return false;
        }
        if (Files.size(blob) == f.size() && (!verify || matches(blob, f) == null)) {
            return true;
        }
        listener.notice(f.path() + ": the cached copy " + blob + " does not match the hub's "
                + (Files.size(blob) != f.size() ? "size" : "checksum") + "; downloading it again");
        Files.delete(blob);
        return false;
    }

    /** Fetches one file into its blob; returns the bytes that came over the network. */
    private long fetch(RepoListing listing, RemoteFile f, Path blob, long doneBefore) throws IOException {
        URI uri = api.fileUri(listing, f);
        Path part = blob.resolveSibling(blob.getFileName() + ".incomplete");
        String what = f.path() + " of " + listing.repoId() + "@" + listing.revision();
        int interrupted = 0;
        int mismatches = 0;
        long network = 0;
        long backoff = settings.backoff().toMillis();
        while (true) {
            long have = Files.exists(part) ? Files.size(part) : 0;
            if (have > f.size()) {
                Files.delete(part);
                have = 0;
            }
            listener.fileStarted(f, have);
            if (have > 0) {
                listener.notice(f.path() + ": resuming at byte " + have + " of " + f.size());
            }
            if (have < f.size()) {
                long before = have;
                try {
                    have = transfer(uri, what, part, have, f, doneBefore);
                } catch (HubException e) {
                    throw e;
                } catch (IOException e) {
                    network += Files.exists(part) ? Math.max(0, Files.size(part) - before) : 0;
                    if (++interrupted >= settings.maxAttempts()) {
                        throw new HubException(what + ": the connection broke " + interrupted + " times (" + HubHttp.describe(e)
                                + "); run the same pull again to resume from byte " + Files.size(part), e);
                    }
                    listener.notice(what + ": connection lost (" + HubHttp.describe(e) + ") at byte "
                            + Files.size(part) + " of " + f.size() + "; resuming");
                    sleep(backoff);
                    backoff *= 2;
                    continue;
                }
                network += have - before;
            }
            String mismatch = matches(part, f);
            if (mismatch == null) {
                Files.move(part, blob, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                return network;
            }
            Files.delete(part);
            if (++mismatches >= 2) {
                throw new HubException(what + ": the downloaded file does not match the hub's checksum twice (" + mismatch
                        + "); nothing was kept. A proxy or mirror may be altering the file; try another HF_ENDPOINT or later");
            }
            listener.notice(what + ": refused a corrupt download (" + mismatch + "); downloading it again");
        }
    }

    /** Appends the answer to {@code part} from byte {@code have}; returns the size on disk afterwards. */
    private long transfer(URI uri, String what, Path part, long have, RemoteFile f, long doneBefore) throws IOException {
        HttpResponse<InputStream> r = api.http.get(uri, have, what);
        long pos = have;
        if (r.statusCode() == 206) {
            String range = r.headers().firstValue("Content-Range").orElse("");
            Matcher m = CONTENT_RANGE.matcher(range);
            if (!m.matches() || Long.parseLong(m.group(1)) != have) {
                r.body().close();
                throw new HubException(what + ": asked for bytes from " + have + " but the server sent '" + range + "'");
            }
        } else {
            pos = 0; // 200: the server ignored the Range and sends the whole file
        }
        byte[] buf = new byte[1 << 20];
        try (InputStream in = r.body();
             FileChannel ch = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ch.truncate(pos);
            ch.position(pos);
            int n;
            while ((n = in.read(buf)) > 0) {
                ch.write(ByteBuffer.wrap(buf, 0, n));
                pos += n;
                listener.progress(f, pos, doneBefore + Math.min(pos, f.size()));
                if (pos > f.size()) {
                    break; // longer than listed: the checksum refuses it
                }
            }
        }
        if (pos < f.size()) {
            throw new IOException("the server closed the transfer at byte " + pos + " of " + f.size());
        }
        return pos;
    }

    /** Null when the file matches the hub's size and checksum, else what differs. */
    private static String matches(Path file, RemoteFile f) throws IOException {
        long size = Files.size(file);
        if (size != f.size()) {
            return "size " + size + " instead of " + f.size();
        }
        MessageDigest md;
        String expected;
        String name;
        try {
            if (f.sha256() != null) {
                md = MessageDigest.getInstance("SHA-256");
                expected = f.sha256();
                name = "sha256";
            } else {
                md = MessageDigest.getInstance("SHA-1");
                md.update(("blob " + size + "\0").getBytes(StandardCharsets.US_ASCII));
                expected = f.gitBlobId();
                name = "git blob id";
            }
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocate(1 << 20);
            while (ch.read(buf.clear()) > 0) {
                md.update(buf.flip());
            }
        }
        String got = HexFormat.of().formatHex(md.digest());
        return got.equalsIgnoreCase(expected) ? null : name + " " + got + " instead of " + expected;
    }

    private static void sleep(long millis) throws IOException {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /** A held lock on the download's lock file; closing releases it. */
    private record HeldLock(FileChannel channel, FileLock lock) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            try {
                lock.release();
            } finally {
                channel.close();
            }
        }
    }
}
