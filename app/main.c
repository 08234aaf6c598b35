/*
 * main: qbench's entry point (the command table lives in app/cmd.c).
 */
#include <stdio.h>

int
main(void)
{
	puts("usage: qbench COMMAND [key=value ...]");
	return 2;
}
