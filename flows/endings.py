"""How a flow ends when it fails for a reason it can name: Failed, with that one sentence, and nothing else.

Why not ``raise``: Prefect logs a raised exception as "Encountered exception
during execution" with its traceback (and the chain of causes) in the run's
logs, and pickles it into the result store (even with ``persist_result=False``),
which the UI then lists as an unnamed "result" artifact pointing at a file on
the worker. A refusal or a failure we can describe is neither a crash nor
something to unpickle: a returned Failed state carries the sentence as its
message, records no result, and still raises the exception for an in-process
caller (the command line, the nightly's child runs), which reads it as before.
Unexpected exceptions are still raised: their traceback is what a bug report needs.
"""

import logging

from prefect.states import Failed, State

from hht_archival.errors import one_sentence


def failed(exc: BaseException) -> State:
    """The run's end for ``exc``: Failed, its message the one sentence, its data the exception itself.

    The chain of causes goes to the DEBUG log only (a worker with PREFECT_LOGGING_LEVEL=DEBUG);
    ``hht-archival run --debug`` prints it from the exception it gets.
    """
    logging.getLogger(__name__).debug("Why the run failed, in full:", exc_info=exc)
    return Failed(message=one_sentence(exc), data=exc)
