import CidCacheEngine

/// The `README` at the top of the mount: how to use it, what it serves.
enum MountReadme {
    static func text(for engine: CacheEngine) -> [UInt8] {
        var text = """
        cidcache: a content-addressed cache of API answers
        ===================================================

        Ask:   exec 3<>api/NS/OP/query; cat request.json >&3; cat <&3; exec 3<&-
               (open read-write, write the request JSON, the first read sends it,
               read the answer to its end; failures come back as errno on read)
        Read:  api/NS/OP/<request-cid>   a cached answer (xattrs user.cidcache.*)
               cid/<cid>                 stored bytes by CID: bodies and key documents
        Drop:  rm api/NS/OP/<request-cid>, rm cid/<cid>, or write to ctl:
               {"invalidate": {"namespace": NS, "op": OP, "match": {FIELD: VALUE}}}
        Watch: stats/all.json, stats/NS.json, stats/metrics.prom, errors, log
        Control object in a request (removed before keying):
               "cidcache": {"refresh": true} | {"ttl": SECONDS} | {"no_store": true}
               | {"samples": N, "sample": I}: at temperature > 0, keep N answers
               (asks rotate through them; api/NS/OP/<request-cid>.samples/ lists them)

        Namespaces (upstream, operations):

        """
        for name in engine.namespaceNames {
            let namespace = engine.namespaces[name]!
            text += "  \(name)  [\(namespace.familyName)]  \(namespace.baseURL)\n"
            text += "      " + namespace.operations.joined(separator: ", ") + "\n"
        }
        text += """

        TTLs: generation 3600 s at temperature 0, else 1800 s; embeddings 86400 s;
        completions 3600 s; the config file overrides any of them.
        The whole protocol (identities, every file, errno, xattrs, TTLs) is
        docs/REFERENCE.md in cidcache's source tree.
        Mode: \(engine.config.offline ? "offline (answers from the cache only)" : "online")

        """
        return Array(text.utf8)
    }
}
