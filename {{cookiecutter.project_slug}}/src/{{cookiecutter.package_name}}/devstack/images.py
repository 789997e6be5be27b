"""The Dockerfile's images: build them (`make images`), and run one as its pod would run it.

Building uses docker where a daemon answers, else buildah (daemonless, as CI runners without
docker and this project's slow tests use it). The Dockerfile pins its base image by digest
(`ARG BASE_IMAGE`); where no registry supplies it, scripts/stand-in-base makes a stand-in under
the same name without the digest, the build names it with `--build-arg BASE_IMAGE` and says
so; the Dockerfile is never changed.

`run_as_pod` starts an image the way a pod spec runs its container, without a cluster: the
container's user and group, a read-only root filesystem when the spec asks for one, an
empty writable directory at exactly each of its volume mounts, only the environment given
(no HOME unless the spec sets one), on this machine's network (so, at 127.0.0.1). With
buildah the image's root is mounted and entered with `unshare` (a mount namespace of its
own) and `chroot`; it needs root.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .processes import Service, StackError, Started, executable

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"
STAND_IN = REPO / "scripts" / "stand-in-base"


def stages(dockerfile: Path = DOCKERFILE) -> list[str]:
    """The build targets: every named stage but the shared base, in the file's order."""
    names = re.findall(r"^FROM \S+ AS (\S+)$", dockerfile.read_text(), flags=re.MULTILINE)
    return [name for name in names if name != "base"]


def base_image(dockerfile: Path = DOCKERFILE) -> str:
    """The pinned base: the default of `ARG BASE_IMAGE` (name:tag@sha256:digest)."""
    return re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile.read_text(), flags=re.MULTILINE)[1]


def builder() -> str:
    """docker if its daemon answers, else buildah; StackError naming the fix if neither."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True).returncode == 0:
        return "docker"
    try:
        return executable("buildah")
    except StackError:
        pass
    raise StackError("neither a docker daemon nor buildah: install buildah (apt-get install "
                     "buildah) or start docker")  # fmt: skip


def buildah_for_pods() -> str | None:
    """buildah, when images can be built and run as pods here (that needs root); else None."""
    try:
        return executable("buildah") if os.geteuid() == 0 else None
    except StackError:
        return None


def _has_image(tool: str, image: str) -> bool:
    inspect = [tool, "image", "inspect", image] if Path(tool).name == "docker" else [
        tool, "inspect", "--type", "image", image]  # fmt: skip
    return subprocess.run(inspect, capture_output=True).returncode == 0


def ensure_base(tool: str, dockerfile: Path = DOCKERFILE) -> str:
    """The base image to build on: the pinned one, pulled if need be; where no registry
    supplies it (buildah only), a stand-in under its name without the digest."""
    image = base_image(dockerfile)
    if _has_image(tool, image):
        return image
    if subprocess.run([tool, "pull", image], capture_output=True).returncode == 0:
        return image
    if Path(tool).name != "buildah":
        raise StackError(f"{image} cannot be pulled: check the registry access")
    stand_in = image.split("@", 1)[0]
    print(f"images: no registry supplies {image} here; building on a stand-in, {stand_in} "
          f"({STAND_IN.relative_to(REPO)})", file=sys.stderr)  # fmt: skip
    path = f"{Path(tool).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # mmdebstrap too
    subprocess.run([str(STAND_IN), stand_in], check=True,
                   env={**os.environ, "PATH": path, "PYTHON": _python312()})  # fmt: skip
    return stand_in


def base_args(base: str | None, dockerfile: Path = DOCKERFILE) -> list[str]:
    """The build arguments that build on `base` (none for the pinned base)."""
    return [] if base in (None, base_image(dockerfile)) else ["--build-arg", f"BASE_IMAGE={base}"]


def _python312() -> str:
    """A Python 3.12 interpreter outside any venv (the stand-in's /usr/local)."""
    return str(Path(sys.base_prefix) / "bin" / "python3.12")


def tag_of(target: str) -> str:
    from ..settings import MODEL_NAME

    return f"localhost/{MODEL_NAME}-{target}:dev"


def build(target: str, tool: str | None = None, root: Path = REPO,
          base: str | None = None) -> tuple[str, float]:  # fmt: skip
    """Build one target on `base` (ensure_base's answer); (its tag, seconds). Layers are cached
    between builds."""
    tool = tool or builder()
    tag = tag_of(target)
    command = [tool, "build", *base_args(base), "--target", target, "-t", tag, "."]
    if Path(tool).name == "buildah":
        command = [tool, "bud", "--layers", "--isolation", "chroot", *base_args(base),
                   "--target", target, "-t", tag, "."]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"building {target} failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return tag, time.perf_counter() - started


@dataclass
class PodRun:
    """How a pod spec runs one container (read by the tests from the rendered manifests)."""

    user: int
    group: int
    read_only_root: bool
    writable: list[str]  # the container's volume mounts (emptyDir volumes)
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, pod: dict, container: dict, env: dict[str, str]) -> PodRun:
        pod_context = pod.get("securityContext", {})
        context = {**pod_context, **container.get("securityContext", {})}
        return cls(
            user=int(context["runAsUser"]),
            group=int(context.get("runAsGroup", context["runAsUser"])),
            read_only_root=bool(context.get("readOnlyRootFilesystem")),
            writable=[mount["mountPath"] for mount in container.get("volumeMounts", [])],
            env=env,
        )


def _config(tag: str) -> dict:
    inspect = [executable("buildah"), "inspect", "--type", "image", tag]
    out = subprocess.run(inspect, capture_output=True, text=True, check=True).stdout
    return json.loads(out)["OCIv1"]["config"]


def _pod_command(tag: str, run: PodRun, args: list[str] | None) -> tuple[list[str], str]:
    """The command that runs the image as `run` says, and the buildah container it mounts.

    As Kubernetes does: `args` replace the image's CMD, its ENTRYPOINT (if any) stays."""
    config = _config(tag)
    buildah = executable("buildah")
    container = subprocess.run([buildah, "from", "--pull=never", tag], capture_output=True,
                               text=True, check=True).stdout.strip()  # fmt: skip
    root = subprocess.run([buildah, "mount", container], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    command = [*(config.get("Entrypoint") or []),
               *(args if args is not None else config.get("Cmd") or [])]  # fmt: skip
    image_env = dict(e.split("=", 1) for e in config.get("Env", []))
    env = {**image_env, **run.env}
    mounts = [f"mount --bind {root} {root}", f"mount -t proc proc {root}/proc",
              f"mount --rbind /dev {root}/dev"]  # fmt: skip
    mounts += [f"mkdir -p {root}{p} && mount -t tmpfs -o mode=1777 tmpfs {root}{p}"
               for p in run.writable]  # fmt: skip
    if run.read_only_root:
        mounts.append(f"mount -o remount,bind,ro {root}")
    inner = f"cd {shlex.quote(config.get('WorkingDir') or '/')} && exec " + shlex.join(command)
    script = " && ".join([*mounts, shlex.join([
        "exec", "chroot", f"--userspec={run.user}:{run.group}", root, "/usr/bin/env", "-i",
        *(f"{k}={v}" for k, v in env.items()), "/bin/sh", "-c", inner])])  # fmt: skip
    return ["unshare", "--mount", "--fork", "/bin/sh", "-c", script], container


HOST_PATH = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def run_as_pod(tag: str, run: PodRun, log_path: Path, ready: str, name: str = "image",
               args: list[str] | None = None, timeout: float = 180) -> RunningImage:  # fmt: skip
    """Start the image as `run` says (a server); ready when `ready` (a URL or tcp:PORT)
    answers. Stopping it unmounts everything."""
    command, container = _pod_command(tag, run, args)
    service = Service(name, command, ready, timeout=timeout)
    return RunningImage(service.start(log_path, env=HOST_PATH), container)


def run_to_completion(tag: str, run: PodRun, log_path: Path, args: list[str] | None = None,
                      timeout: float = 900) -> int:  # fmt: skip
    """Run the image as `run` says (a job) until it exits; its exit status."""
    command, container = _pod_command(tag, run, args)
    try:
        with log_path.open("a") as log:
            return subprocess.run(command, env=HOST_PATH, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False).returncode  # fmt: skip
    finally:
        subprocess.run([executable("buildah"), "rm", container], capture_output=True)


@dataclass
class RunningImage:
    """A started image: its process (the mount namespace's) and its buildah container."""

    started: Started
    container: str

    def wait_ready(self) -> RunningImage:
        try:
            self.started.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.started.stop()  # the namespace's mounts go with its last process
        subprocess.run([executable("buildah"), "rm", self.container], capture_output=True)


def main(argv: list[str]) -> int:
    """`make images [TARGETS=...]`: build every target (or those named); print each tag."""
    tool = builder()
    base = ensure_base(tool)
    for target in argv or stages():
        tag, seconds = build(target, tool, base=base)
        print(f"{target:6} {tag}  built in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
