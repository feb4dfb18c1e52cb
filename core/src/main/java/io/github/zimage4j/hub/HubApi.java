package io.github.zimage4j.hub;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The two listing and download APIs: Hugging Face's (and its mirrors') and ModelScope's. */
abstract sealed class HubApi {

    final HubHttp http;

    HubApi(HubHttp http) {
        this.http = http;
    }

    static HubApi of(HubHttp http) {
        return switch (http.settings().source()) {
            case HUGGING_FACE -> new HuggingFace(http);
            case MODELSCOPE -> new ModelScope(http);
        };
    }

    abstract RepoListing listing(String repoId, String revision) throws IOException;

    abstract URI fileUri(RepoListing listing, RemoteFile file);

    String base() {
        return http.settings().endpoint().toString();
    }

    static String encodePath(String path) {
        StringBuilder sb = new StringBuilder();
        for (String part : path.split("/", -1)) {
            if (!sb.isEmpty()) {
                sb.append('/');
            }
            sb.append(URLEncoder.encode(part, StandardCharsets.UTF_8).replace("+", "%20"));
        }
        return sb.toString();
    }

    static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /**
     * {@code GET /api/models/{repo}/revision/{rev}?blobs=true}: the commit sha and every sibling with its size,
     * git blob id and, for LFS files, {@code lfs.sha256} (huggingface_hub's {@code model_info(files_metadata=True)}).
     * Files come from {@code GET /{repo}/resolve/{commit}/{path}}, which redirects LFS files to a CDN.
     */
    static final class HuggingFace extends HubApi {

        HuggingFace(HubHttp http) {
            super(http);
        }

        @Override
        RepoListing listing(String repoId, String revision) throws IOException {
            URI uri = URI.create(base() + "/api/models/" + repoId + "/revision/" + encode(revision) + "?blobs=true");
            String what = repoId + "@" + revision;
            if (!(http.json(uri, what) instanceof Map<?, ?> info)) {
                throw new HubException(what + ": " + uri + " did not answer a JSON object");
            }
            if (!(info.get("sha") instanceof String commit) || !(info.get("siblings") instanceof List<?> siblings)) {
                throw new HubException(what + ": the answer of " + uri + " has no 'sha' and 'siblings'");
            }
            List<RemoteFile> files = new ArrayList<>();
            for (Object o : siblings) {
                if (!(o instanceof Map<?, ?> s) || !(s.get("rfilename") instanceof String path)) {
                    throw new HubException(what + ": a sibling without 'rfilename' in " + uri);
                }
                String sha256 = null;
                Long size = s.get("size") instanceof Long l ? l : null;
                if (s.get("lfs") instanceof Map<?, ?> lfs) {
                    sha256 = lfs.get("sha256") instanceof String h ? h : lfs.get("oid") instanceof String h2 ? h2 : null;
                    if (lfs.get("size") instanceof Long l) {
                        size = l;
                    }
                }
                String blobId = s.get("blobId") instanceof String b ? b : null;
                if (size == null || (sha256 == null && blobId == null)) {
                    throw new HubException(what + ": " + uri + " lists " + path + " without its size and blob id"
                            + " (the endpoint must support ?blobs=true)");
                }
                files.add(new RemoteFile(path, size, sha256, blobId));
            }
            return new RepoListing(repoId, revision, commit, files);
        }

        @Override
        URI fileUri(RepoListing listing, RemoteFile file) {
            return URI.create(base() + "/" + listing.repoId() + "/resolve/" + listing.commit() + "/" + encodePath(file.path()));
        }
    }

    /**
     * {@code GET /api/v1/models/{repo}/repo/files?Revision={rev}&Recursive=true} answers
     * {@code {"Code":200,"Data":{"Files":[{"Path","Type":"blob"|"tree","Size","Sha256",…}]}}}; files come from
     * {@code GET /api/v1/models/{repo}/repo?Revision={rev}&FilePath={path}} (modelscope's hub API). ModelScope
     * names no commit for a branch, so the snapshot folder is named after the revision.
     */
    static final class ModelScope extends HubApi {

        ModelScope(HubHttp http) {
            super(http);
        }

        @Override
        RepoListing listing(String repoId, String revision) throws IOException {
            URI uri = URI.create(base() + "/api/v1/models/" + repoId + "/repo/files?Revision=" + encode(revision) + "&Recursive=true");
            String what = repoId + "@" + revision;
            if (!(http.json(uri, what) instanceof Map<?, ?> answer)) {
                throw new HubException(what + ": " + uri + " did not answer a JSON object");
            }
            Object code = answer.get("Code");
            if (code != null && !(code instanceof Long c && c == 200)) {
                throw new HubException(what + ": ModelScope answered code " + code + ": " + answer.get("Message"));
            }
            if (!(answer.get("Data") instanceof Map<?, ?> data) || !(data.get("Files") instanceof List<?> list)) {
                throw new HubException(what + ": the answer of " + uri + " has no Data.Files");
            }
            List<RemoteFile> files = new ArrayList<>();
            for (Object o : list) {
                if (!(o instanceof Map<?, ?> f) || "tree".equals(f.get("Type"))) {
                    continue;
                }
                if (!(f.get("Path") instanceof String path) || !(f.get("Size") instanceof Long size)) {
                    throw new HubException(what + ": a file without Path and Size in " + uri);
                }
                String sha256 = f.get("Sha256") instanceof String h && !h.isBlank() ? h : null;
                if (sha256 == null) {
                    throw new HubException(what + ": " + uri + " lists " + path + " without its Sha256");
                }
                files.add(new RemoteFile(path, size, sha256, null));
            }
            return new RepoListing(repoId, revision, revision, files);
        }

        @Override
        URI fileUri(RepoListing listing, RemoteFile file) {
            return URI.create(base() + "/api/v1/models/" + listing.repoId() + "/repo?Revision=" + encode(listing.revision())
                    + "&FilePath=" + encode(file.path()));
        }
    }
}
