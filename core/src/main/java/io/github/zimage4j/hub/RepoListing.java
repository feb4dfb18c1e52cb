package io.github.zimage4j.hub;

import java.util.List;

/**
 * A repository's files at one commit.
 *
 * @param repoId   {@code ORG/NAME}
 * @param revision the branch, tag or commit that was asked for
 * @param commit   what it resolved to (the snapshot folder's name)
 * @param files    every file, in the hub's order
 */
public record RepoListing(String repoId, String revision, String commit, List<RemoteFile> files) {
}
