package io.github.zimage4j.hub;

import io.github.zimage4j.io.ModelFileException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The Hugging Face hub cache, laid out as huggingface_hub lays it out so Python tools and zimage4j share
 * the files:
 *
 * <pre>
 * ROOT/models--ORG--NAME/blobs/BLOB            file contents, named by LFS sha256 or git blob id
 *                       blobs/BLOB.incomplete  a partial download, resumed with an HTTP Range request
 *                       snapshots/COMMIT/PATH  relative symlinks to ../../blobs/BLOB
 *                       refs/REVISION          the commit a branch or tag resolved to
 * </pre>
 */
public final class HubCache {

    private final Path root;

    public HubCache(Path root) {
        this.root = root;
    }

    /** {@code $HF_HUB_CACHE}, else {@code $HF_HOME/hub}, else {@code $XDG_CACHE_HOME/huggingface/hub} or {@code ~/.cache/huggingface/hub}. */
    public static HubCache fromEnvironment() {
        String hub = System.getenv("HF_HUB_CACHE");
        if (hub != null && !hub.isBlank()) {
            return new HubCache(Path.of(hub));
        }
        String home = System.getenv("HF_HOME");
        if (home != null && !home.isBlank()) {
            return new HubCache(Path.of(home, "hub"));
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path cache = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return new HubCache(cache.resolve("huggingface").resolve("hub"));
    }

    public Path root() {
        return root;
    }

    /** {@code models--ORG--NAME}. */
    public Path repoFolder(String repoId) {
        return root.resolve("models--" + repoId.replace("/", "--"));
    }

    Path blob(String repoId, String blobName) {
        return repoFolder(repoId).resolve("blobs").resolve(blobName);
    }

    Path snapshotFolder(String repoId, String commit) {
        return repoFolder(repoId).resolve("snapshots").resolve(commit);
    }

    /**
     * The snapshot a repo id names: the commit of refs/main, else the most recently modified snapshot.
     *
     * @throws ModelFileException when the repo is not in the cache, saying how to get it
     */
    public Path snapshot(String repoId) throws IOException {
        Path repo = repoFolder(repoId);
        Path snapshots = repo.resolve("snapshots");
        if (!Files.isDirectory(snapshots)) {
            throw new ModelFileException("'" + repoId + "' is not in the Hugging Face cache (looked in " + repo
                    + "); download it first with `zimage4j pull " + repoId + "` (or `hf download " + repoId + "`), or pass a folder");
        }
        Path ref = repo.resolve("refs").resolve("main");
        if (Files.isRegularFile(ref)) {
            Path snap = snapshots.resolve(Files.readString(ref).trim());
            if (Files.isDirectory(snap)) {
                return snap;
            }
        }
        List<Path> all = new ArrayList<>();
        try (Stream<Path> s = Files.list(snapshots)) {
            s.filter(Files::isDirectory).forEach(all::add);
        }
        if (all.isEmpty()) {
            throw new ModelFileException("'" + repoId + "' has no snapshot in " + snapshots);
        }
        all.sort(Comparator.comparing(HubCache::modified).reversed());
        return all.get(0);
    }

    /** Records that {@code revision} resolved to {@code commit} (nothing to record when they are the same). */
    void writeRef(String repoId, String revision, String commit) throws IOException {
        if (revision.equals(commit)) {
            return;
        }
        Path ref = repoFolder(repoId).resolve("refs").resolve(revision);
        Files.createDirectories(ref.getParent());
        Path tmp = Files.createTempFile(ref.getParent(), ".ref", ".tmp");
        Files.writeString(tmp, commit);
        Files.move(tmp, ref, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * Points {@code snapshots/COMMIT/PATH} at the blob with a relative symlink (as huggingface_hub does), or,
     * where the file system has no symlinks, moves a copy of the blob there.
     */
    Path link(String repoId, String commit, String path, String blobName) throws IOException {
        Path file = snapshotFolder(repoId, commit).resolve(path);
        Path blob = blob(repoId, blobName);
        Files.createDirectories(file.getParent());
        Path target = file.getParent().relativize(blob);
        if (Files.isSymbolicLink(file) && Files.readSymbolicLink(file).equals(target)) {
            return file;
        }
        Files.deleteIfExists(file);
        try {
            Files.createSymbolicLink(file, target);
        } catch (UnsupportedOperationException | IOException e) {
            Path tmp = Files.createTempFile(file.getParent(), ".copy", ".tmp");
            Files.copy(blob, tmp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        }
        return file;
    }

    private static long modified(Path p) {
        try {
            return Files.getLastModifiedTime(p).toMillis();
        } catch (IOException e) {
            return 0;
        }
    }
}
