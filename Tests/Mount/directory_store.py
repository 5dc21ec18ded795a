"""A directory as the shared tier's store (`"url": "file:///path"`), with the
part of object_stores.ObjectStore's interface the shared-tier helpers use:
a fresh "bucket" is a fresh subdirectory of one temporary folder, and a key
is a path under it. Dot files (`.lock`, and the temporary files of writers)
are not objects: `dot_files()` lists them. `put` writes in place, as a
tamperer with write access to the share would. No credentials: none exist.
"""
import os
import shutil
import tempfile
import uuid


class DirectoryStore:
    credentials = None

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="cidcache-shared-dir-")

    def stop(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def create_bucket(self, bucket=None):
        bucket = bucket or f"dir-{uuid.uuid4().hex[:12]}"
        os.makedirs(self.path(bucket))
        return bucket

    def path(self, bucket, key=""):
        return os.path.join(self.root, bucket, key)

    def section(self, bucket, gateway=0):
        return {"url": "file://" + self.path(bucket)}

    def _walk(self, bucket, prefix, dots):
        base = self.path(bucket)
        found = []
        for directory, _, names in os.walk(base):
            for name in names:
                key = os.path.relpath(os.path.join(directory, name), base)
                if key.startswith(prefix) and name.startswith(".") == dots:
                    found.append(key)
        return sorted(found)

    def keys(self, bucket, prefix=""):
        return self._walk(bucket, prefix, dots=False)

    def dot_files(self, bucket, prefix=""):
        """The keys of the dot files under prefix: `.lock`s and writers' temporary files."""
        return self._walk(bucket, prefix, dots=True)

    def temporaries(self, bucket, prefix=""):
        return [key for key in self.dot_files(bucket, prefix) if key.endswith(".tmp")]

    def get(self, bucket, key):
        with open(self.path(bucket, key), "rb") as f:
            return f.read()

    def put(self, bucket, key, data):
        os.makedirs(os.path.dirname(self.path(bucket, key)), exist_ok=True)
        with open(self.path(bucket, key), "wb") as f:
            f.write(data)

    def delete(self, bucket, key):
        os.unlink(self.path(bucket, key))

    def objects(self, bucket, prefix=""):
        return {key: self.get(bucket, key) for key in self.keys(bucket, prefix)}
