"""gRPC edge: conversion, servicers, interceptors and the server."""
