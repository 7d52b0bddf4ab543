# The reverse-debugging test's GDB script (qemu/reverse-test.sh runs it on `just replay`):
# run forward to the kernel's handling of crash's fault, watch the pointer the faulting read
# went through, and go back in time to the store that made it wild.
break kernel::trap::user_fault
continue
echo == at-fault\n
print/x far
watch -location crash::TARGET.v.value
echo == reverse-continue\n
reverse-continue
bt 2
echo == reverse-stepi\n
reverse-stepi
x/i $pc
print/x crash::TARGET.v.value
echo == reverse-step\n
reverse-step
bt 1
echo == done\n
