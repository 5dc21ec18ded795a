import CFuse
import Glibc

/// The libfuse low-level callback table. Each callback copies what it needs
/// out of libfuse's arguments (they die when it returns) and hands it to the
/// `FileSystem` found in the session's userdata.
enum LowLevelOperations {
    static func table() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.lookup = { req, parent, name in
            fileSystem(req).lookup(Request(raw: req!), parent: parent, name: String(cString: name!))
        }
        ops.forget = { req, inode, count in
            fileSystem(req).forget(inode, count: count)
            fuse_reply_none(req)
        }
        ops.forget_multi = { req, count, forgets in
            let fs = fileSystem(req)
            for item in UnsafeBufferPointer(start: forgets, count: count) { fs.forget(item.ino, count: item.nlookup) }
            fuse_reply_none(req)
        }
        ops.getattr = { req, inode, _ in
            fileSystem(req).getattr(Request(raw: req!), inode: inode)
        }
        ops.setattr = { req, inode, attr, toSet, _ in
            fileSystem(req).setattr(Request(raw: req!), inode: inode, toSet: toSet, size: Int(attr!.pointee.st_size))
        }
        ops.open = { req, inode, fi in
            fileSystem(req).open(Request(raw: req!), inode: inode, flags: fi!.pointee.flags)
        }
        ops.read = { req, _, size, offset, fi in
            fileSystem(req).read(Request(raw: req!), handle: fi!.pointee.fh, size: size, offset: Int64(offset))
        }
        ops.write = { req, _, buffer, size, _, fi in
            fileSystem(req).write(Request(raw: req!), handle: fi!.pointee.fh, bytes: UnsafeRawBufferPointer(start: buffer, count: size))
        }
        ops.flush = { req, _, fi in
            fileSystem(req).flush(Request(raw: req!), handle: fi!.pointee.fh)
        }
        ops.release = { req, _, fi in
            fileSystem(req).release(Request(raw: req!), handle: fi!.pointee.fh)
        }
        ops.opendir = { req, inode, _ in
            fileSystem(req).opendir(Request(raw: req!), inode: inode)
        }
        ops.readdir = { req, inode, size, offset, fi in
            fileSystem(req).readdir(Request(raw: req!), inode: inode, size: size, offset: Int64(offset), snapshot: Int64(fi!.pointee.fh))
        }
        ops.releasedir = { req, _, _ in fuse_reply_err(req, 0) }
        ops.unlink = { req, parent, name in
            fileSystem(req).unlink(Request(raw: req!), parent: parent, name: String(cString: name!))
        }
        ops.getxattr = { req, inode, name, size in
            fileSystem(req).getxattr(Request(raw: req!), inode: inode, name: String(cString: name!), size: size)
        }
        ops.listxattr = { req, inode, size in
            fileSystem(req).listxattr(Request(raw: req!), inode: inode, size: size)
        }
        // Never ENOSYS for xattrs: one ENOSYS turns them off for the whole mount.
        ops.setxattr = { req, _, _, _, _, _ in fuse_reply_err(req, EACCES) }
        ops.removexattr = { req, _, _ in fuse_reply_err(req, EACCES) }
        // Nothing is a terminal: answer isatty's ioctl at once.
        ops.ioctl = { req, _, _, _, _, _, _, _, _ in fuse_reply_err(req, ENOTTY) }
        ops.mkdir = { req, _, _, _ in fuse_reply_err(req, EACCES) }
        ops.mknod = { req, _, _, _, _ in fuse_reply_err(req, EACCES) }
        ops.create = { req, _, _, _, _ in fuse_reply_err(req, EACCES) }
        ops.rmdir = { req, _, _ in fuse_reply_err(req, EACCES) }
        ops.rename = { req, _, _, _, _, _ in fuse_reply_err(req, EACCES) }
        ops.symlink = { req, _, _, _ in fuse_reply_err(req, EACCES) }
        ops.link = { req, _, _, _ in fuse_reply_err(req, EACCES) }
        return ops
    }
}

/// The `FileSystem` behind a request (the session's userdata). A free function:
/// C callbacks cannot capture context.
private func fileSystem(_ req: fuse_req_t?) -> FileSystem {
    Unmanaged<FileSystem>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue()
}
