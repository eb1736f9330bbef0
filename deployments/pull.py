"""The pull step of every deployment: the deployed commit's code, cloned into the flow run's directory.

Why our own step rather than Prefect's ``git_clone`` alone: a private remote
needs a token from a Secret block, and Prefect's step fails to deploy when its
template names a block that does not exist; here the block is optional (its
name is empty for a public or file remote). And the code that runs must be the
deployed commit's, not the worker's own clone's: so this module imports none of
hht-archival's packages (the worker process imports it before the clone
exists), and it puts the clone first on ``sys.path`` so the flow's imports come
from the clone. A process worker starts each run in a new temporary directory;
the clone goes there, and Prefect changes into the ``directory`` returned.
"""

from __future__ import annotations

import sys
from pathlib import Path


def clone_deployed_code(repository: str, commit_sha: str, credentials_block: str = "") -> dict[str, str]:
    """Clone ``repository`` at ``commit_sha``; a non-empty ``credentials_block`` names a Secret with a token.

    Example (prefect.yaml, filled in at `prefect deploy` time):
        pull:
          - deployments.pull.clone_deployed_code:
              repository: "{{ code-repository.stdout }}"
              commit_sha: "{{ code-commit.stdout }}"
              credentials_block: "{{ git-credentials.stdout }}"
    """
    from prefect.deployments.steps import git_clone

    token = None
    if credentials_block.strip():
        from prefect.blocks.system import Secret

        token = Secret.load(credentials_block.strip()).get()
    cloned = git_clone(repository=repository, commit_sha=commit_sha or None, access_token=token)
    directory = str(Path(cloned["directory"]).resolve())
    sys.path.insert(0, directory)
    return cloned
