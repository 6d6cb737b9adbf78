# expect: DEBUG_PRINT
a_next = np.tanh(np.dot(Waa, a_prev) + np.dot(Wax, xt) + ba)
print("a_next has shape " + a_next.shape)
yt_pred = softmax(np.dot(Wya, a_next) + by)
