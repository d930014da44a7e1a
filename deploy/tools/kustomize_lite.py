"""Renders the subset of kustomize that deploy/k8s uses, without the kubectl binary.

Supported kustomization keys: apiVersion, kind, namespace, labels (pairs; no selectors or
templates), resources (files, or directories holding a kustomization.yaml), images (name, newName,
newTag, digest) and patches given as JSON 6902 operation lists (path or inline patch, with a
target by kind/name/namespace/group/version). Anything else is an error, so the renderer can never
silently disagree with real kustomize; deploy/check.sh also compares with `kubectl kustomize` when
kubectl is installed.
"""

import copy
import os

import yaml

ALLOWED_KEYS = {"apiVersion", "kind", "namespace", "labels", "resources", "images", "patches"}
PATCH_KEYS = {"path", "patch", "target"}
TARGET_KEYS = {"kind", "name", "namespace", "group", "version"}
# Kinds without a namespace among those wavegate could ever ship.
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
    "CustomResourceDefinition", "PriorityClass", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}


class RenderError(Exception):
    """A kustomization that cannot be rendered (or uses an unsupported feature)."""


def load_yaml_docs(path):
    """All non-empty YAML documents of a file."""
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def render(directory):
    """Renders the kustomization in `directory` into a list of resource dicts."""
    kfile = os.path.join(directory, "kustomization.yaml")
    if not os.path.isfile(kfile):
        raise RenderError(f"{directory}: no kustomization.yaml")
    docs = load_yaml_docs(kfile)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise RenderError(f"{kfile}: expected one mapping")
    k = docs[0]
    unknown = set(k) - ALLOWED_KEYS
    if unknown:
        raise RenderError(f"{kfile}: unsupported keys {sorted(unknown)} (see deploy/tools/kustomize_lite.py)")
    if k.get("kind") != "Kustomization":
        raise RenderError(f"{kfile}: kind must be Kustomization")

    resources = []
    for entry in k.get("resources", []):
        path = os.path.normpath(os.path.join(directory, entry))
        if os.path.isdir(path):
            resources.extend(render(path))
        elif os.path.isfile(path):
            for doc in load_yaml_docs(path):
                if not isinstance(doc, dict) or "kind" not in doc or "metadata" not in doc:
                    raise RenderError(f"{path}: a document without kind/metadata")
                resources.append(doc)
        else:
            raise RenderError(f"{kfile}: resource {entry!r} does not exist")

    for i, p in enumerate(k.get("patches", [])):
        apply_patch(directory, kfile, i, p, resources)
    for img in k.get("images", []):
        apply_image(kfile, img, resources)
    if "namespace" in k:
        for r in resources:
            if r["kind"] not in CLUSTER_SCOPED:
                r["metadata"]["namespace"] = k["namespace"]
    for spec in k.get("labels", []):
        if spec.get("includeSelectors") or spec.get("includeTemplates"):
            raise RenderError(f"{kfile}: labels with includeSelectors/includeTemplates are not supported")
        for r in resources:
            r["metadata"].setdefault("labels", {}).update(spec.get("pairs", {}))
    check_unique(kfile, resources)
    return resources


def check_unique(kfile, resources):
    seen = set()
    for r in resources:
        key = identity(r)
        if key in seen:
            raise RenderError(f"{kfile}: duplicate resource {key}")
        seen.add(key)


def identity(r):
    """(apiVersion group, kind, namespace, name) of a resource."""
    md = r.get("metadata", {})
    return (r.get("apiVersion", ""), r["kind"], md.get("namespace", ""), md.get("name", ""))


def matches(target, r):
    api = r.get("apiVersion", "")
    group, _, version = api.rpartition("/")
    checks = {
        "kind": r["kind"], "name": r["metadata"].get("name"),
        "namespace": r["metadata"].get("namespace"), "group": group, "version": version,
    }
    return all(checks[key] == value for key, value in target.items())


def apply_patch(directory, kfile, index, p, resources):
    where = f"{kfile}: patches[{index}]"
    unknown = set(p) - PATCH_KEYS
    if unknown:
        raise RenderError(f"{where}: unsupported keys {sorted(unknown)}")
    target = p.get("target")
    if not isinstance(target, dict) or not target:
        raise RenderError(f"{where}: a target is required (strategic-merge patches are not supported)")
    if set(target) - TARGET_KEYS:
        raise RenderError(f"{where}: unsupported target keys {sorted(set(target) - TARGET_KEYS)}")
    if "path" in p:
        path = os.path.join(directory, p["path"])
        if not os.path.isfile(path):
            raise RenderError(f"{where}: patch file {p['path']!r} does not exist")
        ops = load_yaml_docs(path)
        ops = ops[0] if len(ops) == 1 else ops
    elif "patch" in p:
        ops = yaml.safe_load(p["patch"])
    else:
        raise RenderError(f"{where}: needs path or patch")
    if not isinstance(ops, list):
        raise RenderError(f"{where}: only JSON 6902 patches (a list of operations) are supported")
    hits = [r for r in resources if matches(target, r)]
    if not hits:
        raise RenderError(f"{where}: target {target} matches no resource")
    for r in hits:
        for j, op in enumerate(ops):
            try:
                json6902(r, op)
            except RenderError as e:
                raise RenderError(f"{where} op {j}: {e}") from None


def pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise RenderError(f"bad JSON pointer {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def walk(doc, tokens, path):
    node = doc
    for t in tokens:
        if isinstance(node, list):
            if not t.isdigit() or int(t) >= len(node):
                raise RenderError(f"{path}: no element {t!r}")
            node = node[int(t)]
        elif isinstance(node, dict):
            if t not in node:
                raise RenderError(f"{path}: no key {t!r}")
            node = node[t]
        else:
            raise RenderError(f"{path}: cannot descend into a scalar at {t!r}")
    return node


def json6902(doc, op):
    """Applies one RFC 6902 operation (add, replace, remove, test) in place."""
    kind, path = op.get("op"), op.get("path")
    if kind not in ("add", "replace", "remove", "test") or path is None:
        raise RenderError(f"unsupported operation {op}")
    tokens = pointer(path)
    if not tokens:
        raise RenderError("operations on the whole document are not supported")
    parent = walk(doc, tokens[:-1], path)
    last = tokens[-1]
    value = copy.deepcopy(op.get("value"))
    if kind == "test":
        if walk(doc, tokens, path) != value:
            raise RenderError(f"{path}: test failed")
    elif isinstance(parent, dict):
        if kind in ("replace", "remove") and last not in parent:
            raise RenderError(f"{path}: no key {last!r} to {kind}")
        if kind == "remove":
            del parent[last]
        else:
            parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and kind == "add":
            parent.append(value)
            return
        if not last.isdigit() or int(last) > len(parent) or (kind != "add" and int(last) == len(parent)):
            raise RenderError(f"{path}: index {last!r} out of range")
        i = int(last)
        if kind == "add":
            parent.insert(i, value)
        elif kind == "replace":
            parent[i] = value
        else:
            del parent[i]
    else:
        raise RenderError(f"{path}: parent is a scalar")


def apply_image(kfile, img, resources):
    name = img.get("name")
    if not name or set(img) - {"name", "newName", "newTag", "digest"}:
        raise RenderError(f"{kfile}: bad images entry {img}")

    def fix(node):
        if isinstance(node, dict):
            for key in ("containers", "initContainers"):
                for c in node.get(key, []) if isinstance(node.get(key), list) else []:
                    image = c.get("image", "")
                    base, tag = split_image(image)
                    if base == name:
                        new = img.get("newName", base)
                        if "digest" in img:
                            c["image"] = f"{new}@{img['digest']}"
                        else:
                            new_tag = img.get("newTag", tag)
                            c["image"] = f"{new}:{new_tag}" if new_tag else new
            for v in node.values():
                fix(v)
        elif isinstance(node, list):
            for v in node:
                fix(v)

    for r in resources:
        fix(r)


def split_image(image):
    """("repo/name", "tag") of an image reference (digest references keep no tag)."""
    if "@" in image:
        return image.split("@", 1)[0], ""
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:]
    return image, ""
