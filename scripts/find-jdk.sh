# Sourced by ./zimage4j and .ci/run: sets ZIMAGE_JAVA_HOME to a JDK 25+ found on this machine.
# Order: $JAVA_HOME, the `java` on PATH, then the usual install folders.
zimage_java_major() { # prints the feature version of the java binary $1
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}
zimage_find_jdk() {
  local cand java major
  for cand in "${JAVA_HOME:-}" "$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /nonexistent)")")")" \
              /usr/lib/jvm/temurin-25* /usr/lib/jvm/*-25* /usr/lib/jvm/jdk-25* /usr/lib/jvm/* /opt/java/* /opt/jdk*; do
    java="$cand/bin/java"
    [ -n "$cand" ] && [ -x "$java" ] || continue
    major=$(zimage_java_major "$java")
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then ZIMAGE_JAVA_HOME="$cand"; return 0; fi
  done
  echo "zimage4j: no JDK 25 or newer found (looked at \$JAVA_HOME, java on PATH and /usr/lib/jvm). Install one and set JAVA_HOME." >&2
  return 1
}
