package io.github.zimage4j.hub;

/**
 * One file of a repository at a commit, as the hub lists it.
 *
 * @param path      the path inside the repository ({@code transformer/config.json})
 * @param size      its size in bytes
 * @param sha256    the SHA-256 of its contents (LFS files on Hugging Face, every file on ModelScope), or null
 * @param gitBlobId the git blob id (SHA-1 of {@code "blob SIZE\0" + contents}) of a non-LFS file, or null
 */
public record RemoteFile(String path, long size, String sha256, String gitBlobId) {

    /** The blob's name in the cache: the sha256 where there is one, else the git blob id (huggingface_hub's ETag). */
    public String blobName() {
        return sha256 != null ? sha256 : gitBlobId;
    }
}
