"""Array views without an owner, so that Numba's reference counting skips them.

Numba keeps every array alive with an atomic reference count in its meminfo, and it
increments and decrements it around calls, views and inlined helpers. In the kernel's
hot loop that bookkeeping cost a third of the run time (and the counts of the shared
model arrays bounce between cores). A view whose meminfo is NULL is never counted; it is
only safe while its owner is alive, so callers keep the owner referenced (`keep_alive`)
until every use of the view is over.
"""

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _without_meminfo(context, builder, array_type, value):
    array = context.make_array(array_type)(context, builder, value)
    array.meminfo = cgutils.get_null_value(array.meminfo.type)
    return array._getvalue()


@intrinsic
def unowned(typingctx, value):
    """The same array (or tuple of arrays) with no owner: same data, shape and type."""
    if isinstance(value, types.Array):

        def codegen_array(context, builder, signature, args):
            return _without_meminfo(context, builder, signature.args[0], args[0])

        return value(value), codegen_array
    if isinstance(value, types.BaseTuple) and all(isinstance(t, types.Array) for t in value):

        def codegen_tuple(context, builder, signature, args):
            result = args[0]
            for index, array_type in enumerate(signature.args[0]):
                item = builder.extract_value(args[0], index)
                view = _without_meminfo(context, builder, array_type, item)
                result = builder.insert_value(result, view, index)
            return result

        return value(value), codegen_tuple
    return None


@intrinsic
def keep_alive(typingctx, value):
    """A use of `value` that emits no code: Numba releases a variable after its last use,
    so this keeps an owner alive up to this point."""

    def codegen(context, builder, signature, args):
        return context.get_dummy_value()

    return types.none(value), codegen
