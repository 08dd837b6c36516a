"""Render a kustomization the way `kubectl kustomize` does, for the few features the manifests
in deploy/kubernetes use (resources, namespace, labels, configMapGenerator, images, replicas,
strategic-merge patches); anything else is refused rather than ignored, so a kustomization
this cannot render faithfully fails its test. No kustomize binary is needed."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

Object = dict[str, Any]
KNOWN_KEYS = {"apiVersion", "kind", "namespace", "labels", "resources", "configMapGenerator",
              "images", "replicas", "patches"}  # fmt: skip


class KustomizeError(ValueError):
    """A kustomization that cannot be rendered, named."""


def _load_all(path: Path) -> list[Object]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _inside(directory: Path, name: str) -> Path:
    """A file of the kustomization: kustomize refuses files outside its root."""
    path = (directory / name).resolve()
    if not path.is_relative_to(directory.resolve()):
        raise KustomizeError(f"{directory}: {name} is outside the kustomization")
    if not path.is_file():
        raise KustomizeError(f"{directory}: no file {name}")
    return path


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def merge(base: Any, patch: Any) -> Any:
    """A strategic merge: maps merged key by key (null deletes), lists of named maps merged by
    name (containers, volumes, env, ports), any other list or value replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = merge(merged[key], value) if key in merged else value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        merged_list = [dict(item) for item in base]
        for item in patch:
            at = next((k for k, old in enumerate(merged_list) if old["name"] == item["name"]), None)
            if at is None:
                merged_list.append(item)
            else:
                merged_list[at] = merge(merged_list[at], item)
        return merged_list
    return copy.deepcopy(patch)


def _config_maps(directory: Path, generators: list[Object]) -> tuple[list[Object], dict[str, str]]:
    """Generated ConfigMaps, named with a hash of their contents, and their renaming."""
    made, renamed = [], {}
    for generator in generators:
        unknown = set(generator) - {"name", "files"}
        if unknown:
            raise KustomizeError(f"configMapGenerator: unsupported {sorted(unknown)}")
        data = {Path(f).name: _inside(directory, f).read_text() for f in generator["files"]}
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]
        name = f"{generator['name']}-{digest}"
        renamed[generator["name"]] = name
        made.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                     "data": data})  # fmt: skip
    return made, renamed


def _pod_spec(obj: Object) -> Object | None:
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
        spec: Object = obj["spec"]["template"]["spec"]
        return spec
    return None


def _rename_config_maps(obj: Object, renamed: dict[str, str]) -> None:
    spec = _pod_spec(obj)
    if spec is None:
        return
    for volume in spec.get("volumes", ()):
        if "configMap" in volume:
            name = volume["configMap"]["name"]
            volume["configMap"]["name"] = renamed.get(name, name)
    for container in spec.get("containers", ()):
        for env in container.get("env", ()):
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                ref["name"] = renamed.get(ref["name"], ref["name"])
        for source in container.get("envFrom", ()):
            ref = source.get("configMapRef")
            if ref:
                ref["name"] = renamed.get(ref["name"], ref["name"])


def _find(objects: list[Object], kind: str, name: str, what: str) -> Object:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise KustomizeError(f"{what}: no {kind} named {name!r} to apply it to")


def render(directory: Path) -> list[Object]:
    """Every object the kustomization in `directory` makes."""
    (kustomization,) = _load_all(_inside(directory, "kustomization.yaml"))
    unknown = set(kustomization) - KNOWN_KEYS
    if unknown:
        raise KustomizeError(f"{directory}: unsupported or unknown fields {sorted(unknown)}")
    if kustomization.get("kind") != "Kustomization":
        raise KustomizeError(f"{directory}: kind must be Kustomization")
    objects: list[Object] = []
    for resource in kustomization.get("resources", ()):
        path = (directory / resource).resolve()
        objects += render(path) if path.is_dir() else _load_all(_inside(directory, resource))
    generated, renamed = _config_maps(directory, kustomization.get("configMapGenerator", []))
    objects += generated
    for patch in kustomization.get("patches", ()):
        if set(patch) != {"path"}:
            raise KustomizeError(f"patches: only {{path: FILE}} is supported, got {patch}")
        for doc in _load_all(_inside(directory, patch["path"])):
            target = _find(objects, doc["kind"], doc["metadata"]["name"], patch["path"])
            target.update(merge(target, doc))
    for replica in kustomization.get("replicas", ()):
        _find(objects, "Deployment", replica["name"], "replicas")["spec"]["replicas"] = replica[
            "count"
        ]
    for obj in objects:
        _transform(obj, kustomization, renamed)
    return objects


def _transform(obj: Object, kustomization: Object, renamed: dict[str, str]) -> None:
    """Namespace, labels, images and generated names, on one object."""
    if "namespace" in kustomization:
        obj["metadata"]["namespace"] = kustomization["namespace"]
    for label in kustomization.get("labels", ()):
        if label.get("includeSelectors") or label.get("includeTemplates"):
            raise KustomizeError("labels: only metadata labels (includeSelectors: false)")
        obj["metadata"].setdefault("labels", {}).update(label["pairs"])
    spec = _pod_spec(obj)
    for image in kustomization.get("images", ()):
        for container in (spec or {}).get("containers", ()):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                new = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
                container["image"] = new
    _rename_config_maps(obj, renamed)
